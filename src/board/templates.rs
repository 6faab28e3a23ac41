//! The board's pages, `templates/board/*.html`, loaded at start (and on
//! reload) like the mail templates: every page must exist, compile and
//! render its sample context (`samples`) with nothing undefined, or the
//! daemon does not start, a reload is refused and check-config fails. HTML
//! is auto-escaped: subjects, senders and form fields come from outside.

use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use crate::desk::Desk;

/// Every page the board renders.
pub const PAGES: [&str; 7] =
    ["base.html", "login.html", "now.html", "ticket.html", "search.html", "assessment.html", "missing.html"];

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("board template {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("board page {name}: {message}")]
    Render { name: String, message: String },
}

/// The loaded board pages.
pub struct BoardTemplates {
    env: Environment<'static>,
}

impl BoardTemplates {
    /// Loads `dir/*.html` (the `board` folder of the templates directory).
    pub fn load(dir: &Path) -> Result<Self, PageError> {
        let err = |path: &Path, message: String| PageError::File { path: path.to_owned(), message };
        let mut env = Environment::new();
        // A misspelt key is an error, not an empty cell.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for name in PAGES {
            let path = dir.join(name);
            let source = std::fs::read_to_string(&path).map_err(|e| err(&path, e.to_string()))?;
            env.add_template_owned(name, source).map_err(|e| err(&path, format!("{e:#}")))?;
        }
        Ok(Self { env })
    }

    /// Loads the pages and renders each with its sample context for `desk`.
    pub fn load_checked(dir: &Path, desk: &Desk) -> Result<Self, PageError> {
        let pages = Self::load(dir)?;
        for (name, ctx) in super::samples::contexts(desk) {
            pages.render(name, ctx)?;
        }
        Ok(pages)
    }

    pub fn render(&self, name: &str, ctx: impl Serialize) -> Result<String, PageError> {
        let err = |message: String| PageError::Render { name: name.to_owned(), message };
        self.env
            .get_template(name)
            .and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(&ctx))))
            .map_err(|e| err(format!("{e:#}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_pages_load_and_escape_what_mail_brings() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/board");
        let pages = BoardTemplates::load(&dir).unwrap();
        let ctx = serde_json::json!({ "user": "<b>", "page": { "number": "<script>", "error": true } });
        let html = pages.render("missing.html", &ctx).unwrap();
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"), "{html}");
        assert!(pages.render("login.html", &ctx).unwrap().contains("用户名或密码错误"));
        let err = BoardTemplates::load(&dir.join("nowhere")).err().unwrap();
        assert!(err.to_string().contains("base.html"), "{err}");
    }
}
