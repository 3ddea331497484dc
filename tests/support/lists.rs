//! Lists of the API read whole, page by page, from any server (`TestServer::addr`, `Cp::api`).

use std::collections::BTreeSet;
use std::net::SocketAddr;

use serde_json::Value;

/// Every item of a list, page by page.
pub fn list_all(addr: SocketAddr, path: &str) -> Result<Vec<Value>, String> {
    let mut items = Vec::new();
    for page in 0..100 {
        let r = super::request(
            addr,
            "GET",
            &format!("{path}?size=1000&offset={}", page * 1000),
        )
        .send();
        if r.status != 200 {
            return Err(format!("GET {path}: {} {}", r.status, r.text()));
        }
        let body = r.json();
        let page_items = body["items"].as_array().cloned().unwrap_or_default();
        let total = body["total"].as_u64().unwrap_or(0) as usize;
        let done = page_items.is_empty();
        items.extend(page_items);
        if done || items.len() >= total {
            return Ok(items);
        }
    }
    Err(format!("GET {path}: more than 100 pages"))
}

/// (mesh, name) of every item of a list.
pub fn keys(addr: SocketAddr, path: &str) -> Result<BTreeSet<(String, String)>, String> {
    Ok(list_all(addr, path)?
        .iter()
        .map(|i| {
            (
                i["mesh"].as_str().unwrap_or_default().to_string(),
                i["name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect())
}

/// The names of the meshes a server lists.
pub fn mesh_names(addr: SocketAddr) -> Result<BTreeSet<String>, String> {
    Ok(keys(addr, "/meshes")?
        .into_iter()
        .map(|(_, name)| name)
        .collect())
}

/// The status of a GET.
pub fn status_of(addr: SocketAddr, path: &str) -> u16 {
    super::request(addr, "GET", path).send().status
}
