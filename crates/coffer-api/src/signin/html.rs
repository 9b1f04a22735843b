//! The sign-in pages as server-rendered HTML: no script, no outside fetch, the style inline.
//! Everything that comes from a request or the directory goes through [`escape`].

use std::fmt::Write as _;

/// Escapes text for HTML element content and double- or single-quoted attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif;\
background:#f2f2f2;color:#1b1b1b}main{max-width:26rem;margin:8vh auto;background:#fff;\
padding:2.5rem 2.75rem;box-shadow:0 2px 6px rgba(0,0,0,.2)}h1{font-size:1.5rem;font-weight:600;\
margin:.5rem 0 1rem}.brand{font-weight:600;color:#555}label{display:block;margin-top:1rem;\
font-size:.9rem}input[type=text],input[type=password],input[type=email]{width:100%;\
box-sizing:border-box;padding:.5rem 0;font:inherit;border:0;border-bottom:1px solid #666}\
input:focus{outline:2px solid #0067b8;outline-offset:2px}.actions{margin-top:1.75rem;display:flex;\
gap:.5rem;justify-content:flex-end}button{font:inherit;padding:.4rem 1.8rem;border:0;\
background:#0067b8;color:#fff;cursor:pointer}button.secondary{background:#ccc;color:#1b1b1b}\
button:focus{outline:2px solid #1b1b1b;outline-offset:2px}.error{color:#a4262c;margin:1rem 0}\
.trace{color:#666;font-size:.75rem;word-break:break-all}";

/// A whole page around `body`.
fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<meta name=\"referrer\" content=\"no-referrer\">\
<title>{}</title><style>{STYLE}</style></head><body><main>\
<div class=\"brand\">Coffer</div>{body}</main></body></html>\n",
        escape(title)
    )
}

/// An error paragraph with the request id to quote.
fn error_block(message: &str, trace: &str) -> String {
    format!(
        "<p class=\"error\" role=\"alert\" id=\"error\">{}</p><p class=\"trace\">Trace ID: {}</p>",
        escape(message),
        escape(trace)
    )
}

/// What the sign-in form shows.
pub(crate) struct SigninView<'a> {
    /// Where the form posts (`/{tenant}/login`).
    pub(crate) action: &'a str,
    pub(crate) csrf: &'a str,
    pub(crate) app_name: &'a str,
    pub(crate) login_hint: Option<&'a str>,
    pub(crate) device: bool,
    /// A refused attempt: the message and the request id.
    pub(crate) error: Option<(&'a str, &'a str)>,
}

/// The sign-in form: user name and password, the CSRF token hidden.
pub(crate) fn signin(v: &SigninView<'_>) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>Sign in</h1><p>to continue to <strong>{}</strong></p>",
        escape(v.app_name)
    );
    if let Some((message, trace)) = v.error {
        body.push_str(&error_block(message, trace));
    }
    let described = if v.error.is_some() {
        " aria-describedby=\"error\""
    } else {
        ""
    };
    let hint = v.login_hint.unwrap_or_default();
    let focus_user = if hint.is_empty() { " autofocus" } else { "" };
    let focus_password = if hint.is_empty() { "" } else { " autofocus" };
    let _ = write!(
        body,
        "<form method=\"post\" action=\"{action}\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<label for=\"login\">Email or user name</label>\
<input type=\"email\" id=\"login\" name=\"login\" value=\"{hint}\" autocomplete=\"username\" \
required{focus_user}{described}>\
<label for=\"passwd\">Password</label>\
<input type=\"password\" id=\"passwd\" name=\"passwd\" autocomplete=\"current-password\" \
required{focus_password}{described}>\
<div class=\"actions\">",
        action = escape(v.action),
        csrf = escape(v.csrf),
        hint = escape(hint),
    );
    if v.device {
        // No `required` check for Cancel: formnovalidate lets it submit with empty fields.
        body.push_str(
            "<button type=\"submit\" name=\"action\" value=\"decline\" class=\"secondary\" \
formnovalidate>Cancel</button>",
        );
    }
    body.push_str(
        "<button type=\"submit\" name=\"action\" value=\"signin\">Sign in</button></div></form>",
    );
    page("Sign in to your account", &body)
}

/// The device code entry page.
pub(crate) fn device_code(error: Option<(&str, &str)>) -> String {
    let mut body =
        String::from("<h1>Enter code</h1><p>Enter the code displayed on your app or device.</p>");
    if let Some((message, trace)) = error {
        body.push_str(&error_block(message, trace));
    }
    body.push_str(
        "<form method=\"post\" action=\"/devicelogin\">\
<label for=\"otc\">Code</label>\
<input type=\"text\" id=\"otc\" name=\"otc\" autocomplete=\"one-time-code\" \
autocapitalize=\"characters\" spellcheck=\"false\" maxlength=\"32\" required autofocus>\
<div class=\"actions\"><button type=\"submit\">Next</button></div></form>",
    );
    page("Enter code", &body)
}

/// After the device flow's sign-in (or its cancellation).
pub(crate) fn device_done(app_name: &str, declined: bool) -> String {
    let body = if declined {
        format!(
            "<h1>Sign-in cancelled</h1><p>You did not sign in to <strong>{}</strong> on your \
device. You may now close this window.</p>",
            escape(app_name)
        )
    } else {
        format!(
            "<h1>You're signed in</h1><p>You have signed in to the <strong>{}</strong> \
application on your device. You may now close this window.</p>",
            escape(app_name)
        )
    };
    page("Signed in", &body)
}

/// A page for a failure that cannot go back to the application.
pub(crate) fn error(message: &str, trace: &str) -> String {
    page(
        "Sign in",
        &format!(
            "<h1>Sorry, but we're having trouble signing you in.</h1>{}",
            error_block(message, trace)
        ),
    )
}

/// `response_mode=form_post`: the answer as a form the user sends on to the application (one
/// click, since the page runs no script).
pub(crate) fn form_post(redirect_uri: &str, fields: &[(&str, &str)]) -> String {
    let mut body = format!(
        "<h1>Continue</h1><p>Return to the application to finish signing in.</p>\
<form method=\"post\" action=\"{}\">",
        escape(redirect_uri)
    );
    for (name, value) in fields {
        let _ = write!(
            body,
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            escape(name),
            escape(value)
        );
    }
    body.push_str(
        "<div class=\"actions\"><button type=\"submit\" autofocus>Continue</button></div></form>",
    );
    page("Continue", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            escape(r#"<script>alert("x&y")</script>'"#),
            "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt;&#39;"
        );
        assert_eq!(escape("plain ünïcode"), "plain ünïcode");
        assert_eq!(escape(""), "");
    }

    #[test]
    fn pages_escape_what_they_show() {
        let html = signin(&SigninView {
            action: "/t/login",
            csrf: "c\"srf",
            app_name: "<b>evil</b>",
            login_hint: Some("\"><script>x</script>"),
            device: true,
            error: Some(("bad <pw>", "rid")),
        });
        assert!(!html.contains("<b>evil</b>"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;b&gt;evil&lt;/b&gt;"));
        assert!(html.contains("value=\"c&quot;srf\""));
        assert!(html.contains("bad &lt;pw&gt;"));
        assert!(html.contains("value=\"decline\""));
        let html = form_post("https://a.example/cb?x=\"1\"", &[("code", "<c>")]);
        assert!(html.contains("action=\"https://a.example/cb?x=&quot;1&quot;\""));
        assert!(html.contains("value=\"&lt;c&gt;\""));
        assert!(device_done("<x>", false).contains("&lt;x&gt;"));
        assert!(error("<m>", "t").contains("&lt;m&gt;"));
        assert!(device_code(Some(("<e>", "t"))).contains("&lt;e&gt;"));
    }
}
