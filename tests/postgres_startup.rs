//! `ursa-cp` starting on a PostgreSQL database: `ursa-cp migrate` applies the schema, a schema
//! newer than the binary is refused, and the database password shows neither in `/config`
//! nor in the logs, also when it is wrong.
//!
//! Without `URSA_TEST_PG_*` every test fails with one line naming `bash scripts/test.sh`.

mod support;

use std::time::Duration;

use support::cp::Cp;
use support::pg::{self, unique, Db};
use support::resources::body;
use support::wait::until;
use ursa_actors::store::postgres::SCHEMA_VERSION;

#[test]
fn migrate_applies_the_schema_and_a_newer_schema_is_refused() {
    let db = Db::create();
    let store = db.env();
    let env = pg::with(&store, &[]);
    let within = Duration::from_secs(30);

    let (status, output) = Cp::launch(&env, &["migrate"]).exit(within);
    assert!(
        status.is_some_and(|s| s.success()),
        "migrate: {status:?}\n{output}"
    );
    assert!(
        output.contains(&format!(
            "database schema at version {SCHEMA_VERSION} (was 0)"
        )),
        "migrate on a fresh database: {output}"
    );
    assert_eq!(
        db.query_i64("SELECT max(version) FROM schema_migrations")
            .unwrap(),
        SCHEMA_VERSION
    );
    // Again: nothing to do.
    let (status, output) = Cp::launch(&env, &["migrate"]).exit(within);
    assert!(
        status.is_some_and(|s| s.success()),
        "second migrate: {status:?}\n{output}"
    );
    assert!(
        output.contains(&format!("version {SCHEMA_VERSION} (was {SCHEMA_VERSION})")),
        "{output}"
    );

    // The control plane runs on the migrated database.
    let cp = Cp::start(&env);
    let path = "/meshes/default/traffic-traces/t";
    assert_eq!(
        cp.put(path, &body("traffic-traces", "default", "t", "v1"))
            .status,
        201
    );
    assert_eq!(cp.get(path).status, 200);
    cp.terminate();

    // A schema from a newer ursa-cp: start-up and migrate refuse, naming the versions.
    let newer = SCHEMA_VERSION + 1;
    db.execute(&format!(
        "INSERT INTO schema_migrations (version, description) VALUES ({newer}, 'from a newer ursa-cp')"
    ))
    .unwrap();
    for args in [&[][..], &["migrate"][..]] {
        let (status, output) = Cp::launch(&env, args).exit(within);
        let status = status.unwrap_or_else(|| panic!("ursa-cp {args:?} kept running:\n{output}"));
        assert!(
            !status.success(),
            "ursa-cp {args:?} accepted schema {newer}:\n{output}"
        );
        assert!(
            output.contains("schema version")
                && output.contains(&newer.to_string())
                && !output.contains("api=http://"),
            "ursa-cp {args:?} must say the schema version is too new:\n{output}"
        );
    }
    // Nothing was changed by the refused runs.
    assert_eq!(
        db.query_i64("SELECT max(version) FROM schema_migrations")
            .unwrap(),
        newer
    );
    assert_eq!(db.query_i64("SELECT count(*) FROM resources").unwrap(), 2);
}

#[test]
fn the_password_shows_neither_in_config_nor_in_logs() {
    let secret = unique("S3cr3t p@ss:w/rd%");
    let db = Db::create_owned(&secret);
    let store = db.env();
    // Everything the process has to say, including the driver's and the pool's debug lines.
    let env = pg::with(&store, &[("URSA_LOG", "debug")]);
    let cp = Cp::start(&env);

    let r = cp.get("/config");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["store"]["postgres"]["password"], "*****");
    assert_eq!(r.json()["store"]["postgres"]["user"], db.user.as_str());
    assert!(
        !r.text().contains(&secret),
        "GET /config shows the password"
    );

    // Work, and a lost connection (reconnects are logged) before stopping.
    let path = "/meshes/default/dataplanes/dp";
    assert_eq!(
        cp.put(path, &body("dataplanes", "default", "dp", "v1"))
            .status,
        201
    );
    db.server
        .query_i64(
            "postgres",
            &format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = '{}' AND application_name LIKE 'ursa-cp%'",
                db.name
            ),
        )
        .unwrap();
    until(
        Duration::from_secs(10),
        "a PUT after the connections were cut",
        || {
            let r = cp.put(path, &body("dataplanes", "default", "dp", "v2"));
            (r.status == 200).then_some(()).ok_or(r.text())
        },
    );
    let output = cp.terminate();
    assert!(
        output.contains("api=http://"),
        "no logs captured:\n{output}"
    );
    assert!(
        !output.contains(&secret),
        "the password is in the logs:\n{output}"
    );

    // A wrong password: start-up and migrate fail, without echoing it.
    let wrong = unique("Wr0ng-pa55word");
    let store = db.env_with_password(&wrong);
    let env = pg::with(&store, &[("URSA_LOG", "debug")]);
    for args in [&[][..], &["migrate"][..]] {
        let (status, output) = Cp::launch(&env, args).exit(Duration::from_secs(30));
        let status = status.unwrap_or_else(|| panic!("ursa-cp {args:?} kept running:\n{output}"));
        assert!(
            !status.success(),
            "ursa-cp {args:?} started with a wrong password"
        );
        assert!(
            !output.contains(&wrong),
            "the wrong password is echoed:\n{output}"
        );
        assert!(!output.contains(&secret));
    }
}
