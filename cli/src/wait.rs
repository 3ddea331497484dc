//! `wait dataplane NAME --for STATE`: observations of a dataplane's state until one matches or
//! time runs out. Observations come from a [`StateSource`]; today that is [`Poller`], which
//! reads the dataplane's overview every interval. A source built on the API's watch stream
//! (`?watch=true`) can replace it without touching the waiting logic.

use std::time::{Duration, Instant};

use crate::args::Condition;
use crate::client::{segment, Client, ClientError};
use crate::error::CliError;
use crate::render::Insight;

/// What a dataplane is, as far as `wait` cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Not registered.
    Deleted,
    /// Registered, not connected.
    Offline,
    /// Connected.
    Online,
}

impl State {
    fn matches(self, condition: Condition) -> bool {
        matches!(
            (self, condition),
            (State::Deleted, Condition::Deleted)
                | (State::Offline, Condition::Offline)
                | (State::Online, Condition::Online)
        )
    }

    fn word(self) -> &'static str {
        match self {
            State::Deleted => "deleted",
            State::Offline => "Offline",
            State::Online => "Online",
        }
    }

    /// The state as the end of "timed out: the dataplane …".
    fn still(self) -> &'static str {
        match self {
            State::Deleted => "not registered",
            State::Offline => "still Offline",
            State::Online => "still Online",
        }
    }
}

/// A source of successive observations of one dataplane.
pub trait StateSource {
    /// The next observation, waiting at most until `deadline`; `Ok(None)` when the deadline
    /// passed first.
    fn next(&mut self, deadline: Instant) -> Result<Option<State>, ClientError>;
}

/// Reads `GET /meshes/{mesh}/dataplanes+insights/{name}` now, then every `interval`.
pub struct Poller {
    client: Client,
    path: String,
    interval: Duration,
    last: Option<Instant>,
}

impl Poller {
    /// A poller of dataplane `name` in `mesh`.
    pub fn new(client: Client, mesh: &str, name: &str, interval: Duration) -> Poller {
        let path = overview_path(mesh, name);
        Poller {
            client,
            path,
            interval,
            last: None,
        }
    }
}

impl StateSource for Poller {
    fn next(&mut self, deadline: Instant) -> Result<Option<State>, ClientError> {
        if let Some(last) = self.last {
            let due = last + self.interval;
            let now = Instant::now();
            if due > deadline {
                std::thread::sleep(deadline.saturating_duration_since(now));
                return Ok(None);
            }
            std::thread::sleep(due.saturating_duration_since(now));
        }
        self.last = Some(Instant::now());
        let reply = self.client.get(&self.path)?;
        if reply.status == 404 {
            return Ok(Some(State::Deleted));
        }
        let overview = reply.success()?.json()?;
        let insight = Insight(&overview["dataplaneInsight"]);
        Ok(Some(if insight.online() {
            State::Online
        } else {
            State::Offline
        }))
    }
}

/// The API path of a dataplane's overview (the Dataplane with its insight).
pub fn overview_path(mesh: &str, name: &str) -> String {
    format!(
        "/meshes/{}/dataplanes+insights/{}",
        segment(mesh),
        segment(name)
    )
}

/// Observes until a state matches `condition` (returned) or `timeout` passes. An unreachable
/// control plane is retried until the deadline (it may still be starting); a refusal ends the
/// wait at once.
pub fn until(
    source: &mut dyn StateSource,
    condition: Condition,
    timeout: Duration,
) -> Result<State, CliError> {
    let deadline = Instant::now() + timeout;
    let mut last: Option<Result<State, ClientError>> = None;
    loop {
        match source.next(deadline) {
            Ok(Some(state)) if state.matches(condition) => return Ok(state),
            Ok(Some(state)) => last = Some(Ok(state)),
            Ok(None) => break,
            Err(e @ ClientError::Unreachable { .. }) => last = Some(Err(e)),
            Err(e) => return Err(e.into()),
        }
        if Instant::now() >= deadline {
            break;
        }
    }
    let waited = format!("{:?}", timeout);
    Err(match last {
        Some(Err(e)) => CliError::from(e).context(&format!("gave up after {waited}")),
        Some(Ok(state)) => CliError::TimedOut(format!(
            "timed out after {waited}: the dataplane is {}",
            state.still()
        )),
        None => CliError::TimedOut(format!("timed out after {waited}")),
    })
}

/// The line printed when the wait succeeds.
pub fn reached(state: State, mesh: &str, name: &str) -> String {
    format!("Dataplane {name:?} in mesh {mesh:?} is {}", state.word())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scripted source: what a watch stream would deliver.
    struct Script(Vec<Result<Option<State>, ClientError>>);

    impl StateSource for Script {
        fn next(&mut self, _deadline: Instant) -> Result<Option<State>, ClientError> {
            if self.0.is_empty() {
                Ok(None)
            } else {
                self.0.remove(0)
            }
        }
    }

    fn unreachable() -> ClientError {
        ClientError::Unreachable {
            url: "http://x".into(),
            reason: "refused".into(),
        }
    }

    #[test]
    fn waits_through_other_states_and_outages() {
        let mut s = Script(vec![
            Err(unreachable()),
            Ok(Some(State::Offline)),
            Ok(Some(State::Online)),
        ]);
        let got = until(&mut s, Condition::Online, Duration::from_secs(60)).unwrap();
        assert_eq!(got, State::Online);
    }

    #[test]
    fn timeouts_and_refusals_have_their_exit_codes() {
        let mut s = Script(vec![Ok(Some(State::Offline))]);
        let e = until(&mut s, Condition::Online, Duration::from_secs(60)).unwrap_err();
        assert_eq!(e.exit_code(), 4);
        assert!(e.to_string().contains("still Offline"), "{e}");
        let mut s = Script(vec![Ok(Some(State::Offline)), Err(unreachable())]);
        let e = until(&mut s, Condition::Deleted, Duration::from_secs(60)).unwrap_err();
        assert_eq!(e.exit_code(), 3);
        let mut s = Script(vec![Err(ClientError::Status {
            status: 403,
            body: b"forbidden".to_vec(),
        })]);
        let e = until(&mut s, Condition::Online, Duration::from_secs(60)).unwrap_err();
        assert_eq!(e.exit_code(), 1);
    }
}
