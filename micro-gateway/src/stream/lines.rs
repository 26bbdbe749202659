//! The requests of a client stream sent as one HTTP body: one JSON
//! object, or JSON lines (one object a line; blank lines skipped).

use bytes::Bytes;
use micro_runtime::Error;

use crate::request;

/// The requests in `body`.
///
/// # Errors
///
/// 400 naming the line that is not a JSON object.
pub(super) fn requests(body: &Bytes) -> Result<Vec<Bytes>, Error> {
    // A single object, even over several lines (`curl -d @request.json`).
    if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() {
        return Ok(vec![request::from_body(body.clone())?]);
    }
    let mut requests = Vec::new();
    for (number, line) in body.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let request = request::from_body(body.slice_ref(line)).map_err(|e| {
            Error::bad_request(format!(
                "line {} of the JSON-lines body: {}",
                number + 1,
                e.detail()
            ))
        })?;
        requests.push(request);
    }
    Ok(requests)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(body: &'static str) -> Result<Vec<String>, Error> {
        Ok(requests(&Bytes::from_static(body.as_bytes()))?
            .iter()
            .map(|r| String::from_utf8(r.to_vec()).unwrap())
            .collect())
    }

    #[test]
    fn objects_and_lines() {
        assert_eq!(texts("{\"name\":\n\"a\"}").unwrap(), ["{\"name\":\n\"a\"}"]);
        assert_eq!(
            texts("{\"name\":\"a\"}\n\n{\"name\":\"b\"}\r\n").unwrap(),
            ["{\"name\":\"a\"}", "{\"name\":\"b\"}\r"]
        );
        assert!(texts("").unwrap().is_empty());
        assert!(texts(" \n ").unwrap().is_empty());
        let err = texts("{\"name\":\"a\"}\n{\"name\": }").unwrap_err();
        assert!(err.is_bad_request());
        assert!(err.detail().starts_with("line 2 "), "{err}");
        assert!(texts("[1]").unwrap_err().detail().contains("object"));
    }
}
