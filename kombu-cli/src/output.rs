//! Where the commands write, and how errors look.
//!
//! Standard output ends quietly when its reader goes away (`kombu diff | head -1`): a closed
//! pipe is the end of the output, not an error; except for `apply`, which goes on with its work
//! (`sayln!`) and says by its exit code how it went. Errors go to standard error as `error: ...`,
//! coloured on a terminal unless `NO_COLOR` is set.

use std::io::{self, IsTerminal, Write};

/// Writes to standard output. A closed pipe ends the process with exit 0 and no message
/// (the reader has what it wanted); any other write error ends it with exit 2.
pub(crate) fn stdout(args: std::fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        end_on_write_error(&e);
    }
}

fn end_on_write_error(e: &io::Error) -> ! {
    if e.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    let _ = writeln!(io::stderr(), "{}: writing to stdout: {e}", error_word());
    std::process::exit(2);
}

/// Writes to standard output for a command that changes the broker (`apply`): a closed pipe
/// or another write error does not stop it. Ending there would leave the work half done (a
/// migration stopped between its steps) and exit 0 as if it had been done; what cannot be
/// written is lost, and the exit code still tells how the work went.
pub(crate) fn stdout_keep_going(args: std::fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    let _ = out.write_fmt(args).and_then(|()| out.flush());
}

/// `println!` through [`stdout_keep_going`].
macro_rules! sayln {
    ($($arg:tt)*) => {
        $crate::output::stdout_keep_going(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `println!` through [`stdout`].
macro_rules! outln {
    () => { $crate::output::stdout(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::output::stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `print!` through [`stdout`].
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::stdout(format_args!($($arg)*)) };
}

pub(crate) use {out, outln, sayln};

/// Commands this module does not write for may still use `println!`, which panics on a
/// closed pipe: that panic ends the process quietly too.
pub(crate) fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        // The payload is "failed printing to stdout: Broken pipe (os error 32)".
        if payload.starts_with("failed printing to stdout")
            && payload.to_ascii_lowercase().contains("broken pipe")
        {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// Whether standard error takes colour: a terminal, and `NO_COLOR` unset or empty.
pub(crate) fn stderr_colour() -> bool {
    io::stderr().is_terminal() && no_color_unset()
}

/// Whether standard output takes colour: a terminal, and `NO_COLOR` unset or empty.
pub(crate) fn stdout_colour() -> bool {
    io::stdout().is_terminal() && no_color_unset()
}

fn no_color_unset() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// `error` as the first word of an error message, bold red when coloured.
pub(crate) fn error_word() -> &'static str {
    if stderr_colour() {
        "\x1b[1;31merror\x1b[0m"
    } else {
        "error"
    }
}

/// Prints a failure on standard error, starting with `error:` (diagnostics already start
/// with `error[E...]` or `warning[W...]` and are printed as they are).
pub(crate) fn print_failure(message: &str) {
    let plain = message.strip_prefix("\x1b[1;31m").unwrap_or(message);
    let plain = plain.strip_prefix("\x1b[1;33m").unwrap_or(plain);
    let is_diagnostic =
        plain.starts_with("error[") || plain.starts_with("warning[") || plain.starts_with("error:");
    let text = if is_diagnostic {
        message.to_owned()
    } else {
        format!("{}: {message}", error_word())
    };
    let _ = writeln!(io::stderr(), "{}", text.trim_end());
}

/// The known name closest to `unknown`, if it looks like a typo of it (edits counted with
/// two swapped letters as one, so `medai` finds `media`).
pub(crate) fn did_you_mean<'a>(
    unknown: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let len = unknown.chars().count();
    known
        .into_iter()
        .map(|k| (strsim::osa_distance(unknown, k), k))
        .filter(|&(d, k)| d <= (len.max(k.chars().count()) / 3).max(1))
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
}
