//! Output: JSON lines on stdout (every line has "event" and "impl"), text for humans.

use std::io::{IsTerminal as _, Write as _};

use serde_json::{Map, Value};

/// The `impl` field of every JSON line.
pub const IMPL: &str = "rhizome";

/// Where results go.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    json: bool,
}

impl Out {
    /// JSON lines when asked or when stdout is not a terminal.
    pub fn new(json: bool) -> Self {
        Self { json: json || !std::io::stdout().is_terminal() }
    }

    /// Always JSON lines.
    pub fn json() -> Self {
        Self { json: true }
    }

    /// Prints one event: `{"event": name, "impl": "rhizome", ...fields}` (flushed).
    pub fn event(&self, name: &str, fields: Value) {
        let mut map = Map::new();
        map.insert("event".into(), Value::from(name));
        map.insert("impl".into(), Value::from(IMPL));
        if let Value::Object(f) = fields {
            map.extend(f);
        }
        let line = Value::Object(map).to_string();
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    }

    /// Prints a line for humans (or, in JSON mode, an event with a `message`).
    pub fn say(&self, event: &str, text: &str, fields: Value) {
        if self.json {
            let mut fields = fields;
            if let Value::Object(m) = &mut fields {
                m.insert("message".into(), Value::from(text));
            }
            self.event(event, fields);
        } else {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{text}");
            let _ = stdout.flush();
        }
    }
}
