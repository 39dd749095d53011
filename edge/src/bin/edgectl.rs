//! `edgectl`: the operator's CLI for the edge's admin API.
//!
//! ```text
//! edgectl [--url http://127.0.0.1:9901] [--token T] <command>
//!   reload                      re-read config and certificates
//!   purge --tag T | --prefix P | --key K | --all   (repeatable)
//!   regions                     health, drain and breaker per region
//!   drain <region> | undrain <region>
//!   cache                       entries and bytes held
//! ```
//! `MERIDIAN_EDGE_ADMIN_URL` and `MERIDIAN_EDGE_ADMIN_TOKEN` give the
//! defaults. Exit status: 0 ok, 1 the edge refused, 2 usage or transport.

use std::process::ExitCode;

use serde_json::{json, Value};

const USAGE: &str = "usage: edgectl [--url URL] [--token TOKEN] \
reload | purge (--tag T | --prefix P | --key K | --all)... | regions | drain REGION | undrain REGION | cache";

struct Call {
    method: reqwest::Method,
    path: String,
    body: Option<Value>,
}

fn parse(args: &[String]) -> Result<(Option<String>, Option<String>, Call), String> {
    let (mut url, mut token) = (None, None);
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--url" => url = Some(it.next().ok_or(USAGE)?.clone()),
            "--token" => token = Some(it.next().ok_or(USAGE)?.clone()),
            "-h" | "--help" => return Err(USAGE.to_owned()),
            _ => rest.push(a.clone()),
        }
    }
    let call = command(&rest)?;
    Ok((url, token, call))
}

fn command(words: &[String]) -> Result<Call, String> {
    let get = |path: &str| Call {
        method: reqwest::Method::GET,
        path: path.to_owned(),
        body: None,
    };
    let post = |path: String, body: Option<Value>| Call {
        method: reqwest::Method::POST,
        path,
        body,
    };
    match words
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["reload"] => Ok(post("/admin/reload".into(), None)),
        ["regions"] => Ok(get("/admin/regions")),
        ["cache"] => Ok(get("/admin/cache")),
        ["drain", region] => Ok(post(format!("/admin/regions/{region}/drain"), None)),
        ["undrain", region] => Ok(post(format!("/admin/regions/{region}/undrain"), None)),
        ["purge", options @ ..] if !options.is_empty() => {
            let (mut tags, mut prefixes, mut keys, mut all) = (vec![], vec![], vec![], false);
            let mut it = options.iter();
            while let Some(o) = it.next() {
                let mut value = || it.next().map(|v| v.to_string()).ok_or(USAGE.to_owned());
                match *o {
                    "--tag" => tags.push(value()?),
                    "--prefix" => prefixes.push(value()?),
                    "--key" => keys.push(value()?),
                    "--all" => all = true,
                    other => return Err(format!("unknown purge option {other:?}\n{USAGE}")),
                }
            }
            Ok(post(
                "/admin/purge".into(),
                Some(json!({ "tags": tags, "prefixes": prefixes, "keys": keys, "all": all })),
            ))
        }
        _ => Err(USAGE.to_owned()),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (url, token, call) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let url = url
        .or_else(|| std::env::var("MERIDIAN_EDGE_ADMIN_URL").ok())
        .unwrap_or_else(|| "http://127.0.0.1:9901".to_owned());
    let Some(token) = token.or_else(|| std::env::var("MERIDIAN_EDGE_ADMIN_TOKEN").ok()) else {
        eprintln!("edgectl: no token (--token or MERIDIAN_EDGE_ADMIN_TOKEN)");
        return ExitCode::from(2);
    };
    let client = reqwest::Client::new();
    let mut request = client
        .request(
            call.method,
            format!("{}{}", url.trim_end_matches('/'), call.path),
        )
        .bearer_auth(token);
    if let Some(body) = call.body {
        request = request.json(&body);
    }
    match request.send().await {
        Ok(response) => {
            let ok = response.status().is_success();
            let text = response.text().await.unwrap_or_default();
            let pretty = serde_json::from_str::<Value>(&text)
                .and_then(|v| serde_json::to_string_pretty(&v))
                .unwrap_or(text);
            // Written without panicking on a closed pipe (`edgectl … | head`).
            use std::io::Write;
            if ok {
                let _ = writeln!(std::io::stdout(), "{pretty}");
                ExitCode::SUCCESS
            } else {
                let _ = writeln!(std::io::stderr(), "{pretty}");
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("edgectl: {url}: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn commands_map_to_admin_calls() {
        let (_, _, c) = parse(&words("--token t drain portland")).unwrap();
        assert_eq!(c.path, "/admin/regions/portland/drain");
        let (_, _, c) = parse(&words("purge --tag product:1 --prefix /api/catalog")).unwrap();
        assert_eq!(c.body.unwrap()["tags"][0], "product:1");
        assert!(parse(&words("purge")).is_err());
        assert!(parse(&words("purge --bogus x")).is_err());
        assert!(parse(&words("explode")).is_err());
    }
}
