//! Request parameters as Prometheus reads them: from the query string and,
//! for POST, from a form-encoded body, with `match[]` repeatable.

use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, Method};
use bytes::Bytes;
use sightline_model::Matcher;
use sightline_read::metrics::TimeRange;

use super::ApiError;

/// All `(key, value)` pairs of a request, query string first.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let method = req.method().clone();
        let headers = req.headers().clone();
        let query = req.uri().query().map(str::to_owned);
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::BadData(format!("reading the request body: {e}")))?;
        Ok(Self::parse(&method, &headers, query.as_deref(), &body))
    }
}

impl Params {
    pub fn parse(method: &Method, headers: &HeaderMap, query: Option<&str>, body: &Bytes) -> Self {
        let mut pairs: Vec<(String, String)> = query
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if method == Method::POST && is_form {
            pairs.extend(form_urlencoded::parse(body).into_owned());
        }
        Self(pairs)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The `match[]` selectors, each parsed into matchers.
    pub fn matcher_sets(&self) -> Result<Vec<Vec<Matcher>>, ApiError> {
        self.all("match[]")
            .map(|s| {
                sightline_query::parse_series_selector(s)
                    .map_err(|e| ApiError::BadData(e.to_string()))
            })
            .collect()
    }

    /// `start` and `end`, open-ended when absent.
    pub fn time_range(&self) -> Result<TimeRange, ApiError> {
        let start = self.time("start")?.unwrap_or(i64::MIN);
        let end = self.time("end")?.unwrap_or(i64::MAX);
        if end < start {
            return Err(ApiError::BadData(
                "end timestamp must not be before start time".into(),
            ));
        }
        Ok(TimeRange::new(start, end))
    }

    fn time(&self, key: &str) -> Result<Option<i64>, ApiError> {
        self.get(key)
            .map(|raw| {
                parse_time(raw).ok_or_else(|| {
                    ApiError::BadData(format!(
                        "invalid parameter \"{key}\": cannot parse \"{raw}\" to a valid timestamp"
                    ))
                })
            })
            .transpose()
    }
}

/// Unix seconds (with a fraction) or RFC 3339, to milliseconds.
pub fn parse_time(raw: &str) -> Option<i64> {
    if let Ok(secs) = raw.parse::<f64>() {
        if !secs.is_finite() {
            return None;
        }
        // Prometheus clamps its "min/max time" sentinels the same way.
        return Some(
            (secs * 1000.0)
                .round()
                .clamp(i64::MIN as f64, i64::MAX as f64) as i64,
        );
    }
    chrono::DateTime::parse_from_rfc3339(raw)
        .ok()
        .map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("1700000000"), Some(1_700_000_000_000));
        assert_eq!(parse_time("1700000000.123"), Some(1_700_000_000_123));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Some(1_700_000_000_000));
        assert_eq!(
            parse_time("2023-11-14T23:13:20.5+01:00"),
            Some(1_700_000_000_500)
        );
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("NaN"), None);
    }

    #[test]
    fn query_and_form_params_merge() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        let p = Params::parse(
            &Method::POST,
            &headers,
            Some("match[]=up&start=1"),
            &Bytes::from_static(b"match%5B%5D=%7Bjob%3D%22x%22%7D&end=2"),
        );
        assert_eq!(p.all("match[]").collect::<Vec<_>>(), ["up", "{job=\"x\"}"]);
        assert_eq!(p.time_range().unwrap(), TimeRange::new(1000, 2000));
        let p = Params::parse(
            &Method::GET,
            &HeaderMap::new(),
            Some("start=5&end=1"),
            &Bytes::new(),
        );
        assert!(p.time_range().is_err());
    }
}
