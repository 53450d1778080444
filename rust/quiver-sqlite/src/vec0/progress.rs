//! Progress of long vec0 work (bulk inserts, IVF training and assignment) for callers
//! that ask for it (the Python functions' `progress=`): the caller installs a hook on
//! its thread for one call ([`with_hook`]); the work reports `(stage, done, total)`
//! through [`report`], thinned to about one report per percent of each stage. A hook
//! that fails (the Python callback raised) stops the work like any other error, so the
//! statement or savepoint it runs in rolls back.

use std::cell::RefCell;

use crate::sqlite::error::sql_error;

/// Receives `(stage, done, total)`; an `Err` stops the work with that message.
pub type Hook = Box<dyn FnMut(&str, usize, usize) -> Result<(), String>>;

struct Reporter {
    hook: Hook,
    stage: String,
    /// The next `done` worth reporting in the current stage.
    next: usize,
    /// The last `done` reported in the current stage (not repeated).
    last: Option<usize>,
}

thread_local! {
    /// The hook of the call running on this thread, if it asked for progress.
    static REPORTER: RefCell<Option<Reporter>> = const { RefCell::new(None) };
}

/// Runs `f` with `hook` receiving the progress reported on this thread; the previous
/// hook (if any) is put back afterwards, also when `f` unwinds.
pub fn with_hook<T>(hook: Hook, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<Reporter>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            REPORTER.with(|r| *r.borrow_mut() = previous);
        }
    }
    let reporter = Reporter {
        hook,
        stage: String::new(),
        next: 0,
        last: None,
    };
    let _restore = Restore(REPORTER.with(|r| r.borrow_mut().replace(reporter)));
    f()
}

/// Reports that `done` of `total` units of `stage` are finished. Cheap without a hook;
/// with one, the hook hears the first report of a stage, then one per percent, and the
/// last (`done == total`).
pub fn report(stage: &str, done: usize, total: usize) -> rusqlite::Result<()> {
    // Taken out while the hook runs: a hook that starts vec0 work itself (the Python
    // callback inserting rows) must not find the cell borrowed.
    let Some(mut reporter) = REPORTER.with(|r| r.borrow_mut().take()) else {
        return Ok(());
    };
    if reporter.stage != stage {
        reporter.stage = stage.to_string();
        reporter.next = 0;
        reporter.last = None;
    }
    let due = done >= reporter.next || done >= total;
    let result = if due && reporter.last != Some(done) {
        reporter.next = done + (total / 100).max(1);
        reporter.last = Some(done);
        (reporter.hook)(stage, done, total)
    } else {
        Ok(())
    };
    REPORTER.with(|r| {
        let mut slot = r.borrow_mut();
        if slot.is_none() {
            *slot = Some(reporter);
        }
    });
    result.map_err(|m| sql_error(format!("vec0: stopped by the progress callback: {m}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    type Heard = Rc<RefCell<Vec<(String, usize, usize)>>>;

    fn recording() -> (Hook, Heard) {
        let heard: Heard = Rc::default();
        let h = heard.clone();
        let hook: Hook = Box::new(move |s, d, t| {
            h.borrow_mut().push((s.to_string(), d, t));
            Ok(())
        });
        (hook, heard)
    }

    #[test]
    fn reports_are_thinned_to_one_per_percent_and_the_last_is_kept() {
        let (hook, heard) = recording();
        with_hook(hook, || {
            for done in 1..=1000 {
                report("insert", done, 1000).unwrap();
            }
            report("assign", 1, 3).unwrap();
            report("assign", 3, 3).unwrap();
            report("assign", 3, 3).unwrap(); // a repeat is not heard twice
        });
        let heard = heard.borrow();
        let inserts: Vec<usize> = heard
            .iter()
            .filter(|h| h.0 == "insert")
            .map(|h| h.1)
            .collect();
        assert_eq!(inserts.first(), Some(&1));
        assert_eq!(inserts.last(), Some(&1000));
        // 1, 11, ..., 991, then the last.
        assert_eq!(inserts.len(), 101);
        let steps: Vec<usize> = inserts.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(
            steps[..steps.len() - 1].iter().all(|&d| d == 10),
            "{steps:?}"
        );
        assert_eq!(heard.iter().filter(|h| h.0 == "assign").count(), 2);
    }

    #[test]
    fn without_a_hook_nothing_is_reported_and_a_failing_hook_stops_the_work() {
        assert!(report("insert", 1, 2).is_ok());
        let failing: Hook = Box::new(|_, _, _| Err("KeyboardInterrupt".into()));
        let err = with_hook(failing, || report("insert", 1, 2)).unwrap_err();
        assert!(err.to_string().contains("KeyboardInterrupt"), "{err}");
        // The hook is gone after the call.
        assert!(report("insert", 1, 2).is_ok());
    }

    #[test]
    fn a_nested_call_has_its_own_hook_and_the_outer_one_comes_back() {
        let (outer, heard_outer) = recording();
        let (inner, heard_inner) = recording();
        with_hook(outer, || {
            report("a", 1, 2).unwrap();
            with_hook(inner, || report("b", 1, 1).unwrap());
            report("a", 2, 2).unwrap();
        });
        assert_eq!(heard_outer.borrow().len(), 2);
        assert_eq!(heard_inner.borrow().len(), 1);
    }
}
