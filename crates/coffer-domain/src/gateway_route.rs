//! How the gateway picks what answers a request, as pure rules: the API by the longest path
//! prefix, the operation by method and URL template (API Management's template rules), and
//! whether a subscription key opens the API.

use crate::gateway::{GatewayApi, GatewayOperation, GatewaySubscription, SubscriptionScope};

/// The API whose `path` is the longest prefix of `path` (whole segments, case-insensitive),
/// and the rest of the path after it (starting with `/`, or empty).
pub fn select_api<'a, 'p>(
    apis: &'a [GatewayApi],
    path: &'p str,
) -> Option<(&'a GatewayApi, &'p str)> {
    let mut best: Option<(&GatewayApi, &str)> = None;
    for api in apis {
        let prefix = api.path.trim_matches('/');
        let rest = if prefix.is_empty() {
            Some(path)
        } else {
            let body = path.strip_prefix('/').unwrap_or(path);
            match body.get(..prefix.len()) {
                Some(head) if head.eq_ignore_ascii_case(prefix) => {
                    let tail = &body[prefix.len()..];
                    (tail.is_empty() || tail.starts_with('/')).then_some(tail)
                }
                _ => None,
            }
        };
        let Some(rest) = rest else { continue };
        if best.is_none_or(|(b, _)| b.path.trim_matches('/').len() < prefix.len()) {
            best = Some((api, rest));
        }
    }
    best
}

/// Whether a URL template (`/users/{id}`, `/files/*`, `/items?top={n}`) covers `path` (the
/// part after the API's suffix). A `{param}` takes one non-empty segment, a final `*` or
/// `{*param}` the rest; literal segments compare case-insensitively; a trailing `/` does not
/// matter. The score ranks matches: more literal segments, then no wildcard, wins.
pub fn template_score(template: &str, path: &str) -> Option<u32> {
    let template = template.split('?').next().unwrap_or_default();
    let t: Vec<&str> = segments(template).collect();
    let p: Vec<&str> = segments(path).collect();
    let mut literals = 0u32;
    for (i, seg) in t.iter().enumerate() {
        let last = i + 1 == t.len();
        if last && (*seg == "*" || (seg.starts_with("{*") && seg.ends_with('}'))) {
            return Some(literals * 4);
        }
        let got = p.get(i)?;
        if seg.starts_with('{') && seg.ends_with('}') {
            if got.is_empty() {
                return None;
            }
        } else if seg.eq_ignore_ascii_case(got) {
            literals += 1;
        } else {
            return None;
        }
    }
    (t.len() == p.len()).then_some(literals * 4 + 2)
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.trim_matches('/').split('/').filter(|s| !s.is_empty())
}

/// The operation answering `method` on `path`: the best-scoring template; an exact method
/// beats `*` at equal score.
pub fn select_operation<'a>(
    operations: &'a [GatewayOperation],
    method: &str,
    path: &str,
) -> Option<&'a GatewayOperation> {
    operations
        .iter()
        .filter_map(|op| {
            let exact = op.method.eq_ignore_ascii_case(method);
            if !exact && op.method != "*" {
                return None;
            }
            template_score(&op.url_template, path).map(|s| (s * 2 + u32::from(exact), op))
        })
        .max_by_key(|(s, _)| *s)
        .map(|(_, op)| op)
}

/// What a request's subscription key means for an API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyDecision {
    /// The API needs no subscription.
    Open,
    /// The key belongs to this active subscription, whose scope covers the API.
    Allowed(String),
    /// The API needs a key and none came.
    Missing,
    /// A key came that opens nothing here (unknown, inactive or out of scope).
    Invalid,
}

/// Judges `key` (from the API's header or query parameter) for `api`.
pub fn decide_subscription(
    api: &GatewayApi,
    key: Option<&str>,
    subscriptions: &[GatewaySubscription],
) -> KeyDecision {
    if !api.subscription_required {
        return KeyDecision::Open;
    }
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return KeyDecision::Missing;
    };
    let covers = |scope: &SubscriptionScope| match scope {
        SubscriptionScope::AllApis => true,
        SubscriptionScope::Api(id) => id.eq_ignore_ascii_case(&api.id),
        SubscriptionScope::Product(p) => api.products.iter().any(|ap| ap.eq_ignore_ascii_case(p)),
    };
    subscriptions
        .iter()
        .find(|s| {
            s.active
                && (constant_time_eq(&s.primary_key, key)
                    || constant_time_eq(&s.secondary_key, key))
                && covers(&s.scope)
        })
        .map_or(KeyDecision::Invalid, |s| KeyDecision::Allowed(s.id.clone()))
}

/// Compares keys without an early exit on the first differing byte.
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(id: &str, path: &str) -> GatewayApi {
        GatewayApi {
            id: id.into(),
            path: path.into(),
            service_url: None,
            subscription_required: true,
            subscription_key_header: "Ocp-Apim-Subscription-Key".into(),
            subscription_key_query: "subscription-key".into(),
            operations: vec![],
            products: vec!["starter".into()],
        }
    }

    fn op(method: &str, t: &str) -> GatewayOperation {
        GatewayOperation {
            id: format!("{method} {t}"),
            method: method.into(),
            url_template: t.into(),
        }
    }

    #[test]
    fn the_longest_path_prefix_wins_on_segment_boundaries() {
        let apis = [api("root", ""), api("a", "echo"), api("b", "echo/v2")];
        let pick = |p| select_api(&apis, p).map(|(a, rest)| (a.id.as_str(), rest));
        assert_eq!(pick("/echo/v2/users"), Some(("b", "/users")));
        assert_eq!(pick("/Echo/users"), Some(("a", "/users")));
        assert_eq!(pick("/echo"), Some(("a", "")));
        assert_eq!(pick("/echoes/x"), Some(("root", "/echoes/x")));
        assert_eq!(select_api(&apis[1..], "/other").map(|a| a.1), None);
    }

    #[test]
    fn templates_match_by_segments() {
        let table: &[(&str, &str, bool)] = &[
            ("/users/{id}", "/users/42", true),
            ("/users/{id}", "/users/42/", true),
            ("/users/{id}", "/Users/42", true),
            ("/users/{id}", "/users", false),
            ("/users/{id}", "/users/42/pets", false),
            ("/users", "/users", true),
            ("/", "", true),
            ("/", "/x", false),
            ("/files/*", "/files/a/b/c", true),
            ("/files/{*rest}", "/files/a/b", true),
            ("/*", "/anything/at/all", true),
            ("/items?top={n}", "/items", true),
        ];
        for (t, p, want) in table {
            assert_eq!(template_score(t, p).is_some(), *want, "{t} vs {p}");
        }
    }

    #[test]
    fn the_most_specific_operation_and_exact_method_win() {
        let ops = [
            op("GET", "/users/{id}"),
            op("GET", "/users/me"),
            op("*", "/users/me"),
            op("POST", "/users"),
            op("*", "/*"),
        ];
        let pick = |m, p| select_operation(&ops, m, p).map(|o| o.id.as_str());
        assert_eq!(pick("GET", "/users/me"), Some("GET /users/me"));
        assert_eq!(pick("DELETE", "/users/me"), Some("* /users/me"));
        assert_eq!(pick("GET", "/users/7"), Some("GET /users/{id}"));
        assert_eq!(pick("post", "/users"), Some("POST /users"));
        assert_eq!(pick("PUT", "/x/y"), Some("* /*"));
        assert!(select_operation(&ops[..4], "PUT", "/users").is_none());
    }

    #[test]
    fn subscription_keys_are_judged_by_state_and_scope() {
        let sub = |id: &str, scope, active| GatewaySubscription {
            id: id.into(),
            scope,
            primary_key: format!("{id}-p"),
            secondary_key: format!("{id}-s"),
            active,
        };
        let subs = [
            sub("all", SubscriptionScope::AllApis, true),
            sub("off", SubscriptionScope::AllApis, false),
            sub("other", SubscriptionScope::Api("b".into()), true),
            sub("prod", SubscriptionScope::Product("starter".into()), true),
        ];
        let a = api("a", "echo");
        let d = |k| decide_subscription(&a, k, &subs);
        assert_eq!(d(None), KeyDecision::Missing);
        assert_eq!(d(Some("")), KeyDecision::Missing);
        assert_eq!(d(Some("all-s")), KeyDecision::Allowed("all".into()));
        assert_eq!(d(Some("prod-p")), KeyDecision::Allowed("prod".into()));
        assert_eq!(d(Some("off-p")), KeyDecision::Invalid);
        assert_eq!(d(Some("other-p")), KeyDecision::Invalid);
        assert_eq!(d(Some("nope")), KeyDecision::Invalid);
        let open = GatewayApi {
            subscription_required: false,
            ..a.clone()
        };
        assert_eq!(decide_subscription(&open, None, &subs), KeyDecision::Open);
    }
}
