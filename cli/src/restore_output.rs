//! What a restore says: a plan and its detail, or an error, as text or JSON.

/// Says `e` (as JSON too, with `json`) and gives the exit code of a failed restore.
pub(crate) fn fail(json: bool, e: &str) -> i32 {
    if json {
        twincloud_runtime::outln!("{}", serde_json::json!({"ok": false, "error": e}));
    }
    eprintln!("error: {e}");
    1
}

/// Says the plan and its detail, and whether it was done.
pub(crate) fn say(json: bool, plan: &str, done: bool, detail: &str) {
    if json {
        twincloud_runtime::outln!(
            "{}",
            serde_json::json!({"ok": true, "plan": plan, "done": done, "detail": detail})
        );
    } else {
        twincloud_runtime::outln!("{plan}");
        twincloud_runtime::outln!("{detail}");
    }
}
