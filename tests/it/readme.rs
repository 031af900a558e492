//! The README, run top to bottom: every ```` ```console ```` block, in order, in one shell, so
//! that the first hour it describes cannot drift from what the code does.
//!
//! The format of a `console` block:
//! - `$ command` runs `command` in one `bash` session shared by all blocks (variables and
//!   `export`s carry over); a line ending in `\` continues on the next line;
//! - the lines after it, up to the next `$`, are the expected output (stdout and stderr, in
//!   order, without trailing empty lines); `…` inside a line matches any text, and a line that
//!   is only `…` any number of lines;
//! - a command ending in `&` starts in the background; its expected lines must appear in its
//!   output (within two minutes), and it is stopped at the end.
//!
//! ```` ```sh ```` blocks are not run (installing, long-running `cargo` commands).
//!
//! The session runs in a temporary copy of `examples/gateway.toml` and `policies/` (the
//! commands use those relative paths), with the `raigate` just built first on `PATH`, as
//! `cargo install --path .` would put it. `cargo run --example NAME` runs the example binary
//! `cargo test` built, and `cargo run --` runs `raigate`: the same programs, without a nested
//! cargo. The ports are the README's own (3000, 8080, 8081, 9000, 9001).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::copy_dir;

/// One `$` command and what it should print.
#[derive(Debug)]
struct Step {
    /// README line of the command, for messages.
    line: usize,
    command: String,
    expected: Vec<String>,
}

/// The steps of every `console` block of `markdown`, in order.
fn steps(markdown: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut in_console = false;
    let mut continuing = false;
    for (i, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_end();
        if let Some(info) = trimmed.strip_prefix("```") {
            if in_console {
                in_console = false;
            } else {
                in_console = info.trim() == "console";
            }
            continuing = false;
            continue;
        }
        if !in_console {
            continue;
        }
        if continuing {
            let step = steps.last_mut().unwrap();
            step.command.push('\n');
            step.command.push_str(trimmed);
            continuing = trimmed.ends_with('\\');
        } else if let Some(command) = trimmed.strip_prefix("$ ") {
            steps.push(Step {
                line: i + 1,
                command: command.to_owned(),
                expected: Vec::new(),
            });
            continuing = trimmed.ends_with('\\');
        } else {
            let step = steps
                .last_mut()
                .unwrap_or_else(|| panic!("README line {}: output before any `$` command", i + 1));
            step.expected.push(trimmed.to_owned());
        }
    }
    steps
}

/// Whether `actual` matches the `expected` line (`…` matches any text).
fn line_matches(expected: &str, actual: &str) -> bool {
    let parts: Vec<&str> = expected.split('…').collect();
    if parts.len() == 1 {
        return expected == actual;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !actual.starts_with(first) || !actual[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &actual[first.len()..actual.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// Whether the `actual` lines match the `expected` ones (a line `…` matches any lines).
fn lines_match(expected: &[String], actual: &[String]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((e, rest)) if e == "…" => {
            (0..=actual.len()).any(|skip| lines_match(rest, &actual[skip..]))
        }
        Some((e, rest)) => actual
            .split_first()
            .is_some_and(|(a, more)| line_matches(e, a) && lines_match(rest, more)),
    }
}

/// Whether every expected line (but `…`) appears in `actual`, in order.
fn appears_in_order(expected: &[String], actual: &[String]) -> bool {
    let mut at = 0;
    for e in expected.iter().filter(|e| *e != "…") {
        match actual[at..].iter().position(|a| line_matches(e, a)) {
            Some(i) => at += i + 1,
            None => return false,
        }
    }
    true
}

/// `cargo run` forms, as the binaries `cargo test` built.
fn rewrite(command: &str, examples: &Path) -> String {
    if let Some(rest) = command.strip_prefix("cargo run --example ") {
        let (name, args) = rest.split_once(' ').unwrap_or((rest, ""));
        let args = args.trim_start_matches("-- ");
        return format!("{} {args}", examples.join(name).display());
    }
    if let Some(rest) = command.strip_prefix("cargo run -- ") {
        return format!("raigate {rest}");
    }
    command.to_owned()
}


/// A bash session fed one command at a time.
struct Shell {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
}

const DONE: &str = "@@README-STEP-DONE@@";

impl Shell {
    fn start(dir: &Path, path: &str) -> Shell {
        let mut child = Command::new("bash")
            .args(["--noprofile", "--norc"])
            .current_dir(dir)
            .env("PATH", path)
            .env("RUST_LOG", "warn")
            .env_remove("RAIGATE_TOKEN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("bash");
        let mut stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        writeln!(stdin, "exec 2>&1").unwrap();
        Shell {
            child,
            stdin,
            lines,
        }
    }

    /// Run `command`; its output lines and exit status.
    fn run(&mut self, command: &str, timeout: Duration) -> (Vec<String>, i32) {
        writeln!(
            self.stdin,
            "{command}\n__rc=$?; printf '\\n{DONE} %d\\n' \"$__rc\""
        )
        .unwrap();
        self.stdin.flush().unwrap();
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).unwrap_or_else(|_| {
                panic!("`{command}` did not finish in {timeout:?}; output so far: {out:#?}")
            });
            if let Some(rc) = line.strip_prefix(DONE) {
                // Trailing empty lines (the marker's own line break, an event stream's last
                // blank line) are not part of what a reader compares.
                while out.last().is_some_and(|l: &String| l.is_empty()) {
                    out.pop();
                }
                return (out, rc.trim().parse().unwrap());
            }
            out.push(line.trim_end_matches('\r').trim_end().to_owned());
        }
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        // Stop the background jobs, then the shell.
        let _ = writeln!(self.stdin, "kill $(jobs -p) 2>/dev/null; wait; exit");
        let _ = self.stdin.flush();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

#[test]
fn the_console_format_parses_and_matches() {
    let md =
        "text\n```console\n$ echo a \\\n  b\na …\n…\n$ true &\nready\n```\n```sh\n$ not run\n```\n";
    let s = steps(md);
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].command, "echo a \\\n  b");
    assert_eq!(s[0].expected, ["a …", "…"]);
    assert_eq!(s[1].line, 7);
    assert!(line_matches("a … c", "a b c"));
    assert!(line_matches("…\"x\"…", "{\"x\": 1}"));
    assert!(!line_matches("a … c", "a b d"));
    let actual: Vec<String> = ["1", "2", "3"].map(String::from).to_vec();
    assert!(lines_match(&["1".into(), "…".into()], &actual));
    assert!(lines_match(&["…".into(), "3".into()], &actual));
    assert!(!lines_match(&["1".into(), "3".into()], &actual));
    assert!(appears_in_order(&["1".into(), "3".into()], &actual));
}

#[test]
fn the_readme_runs_top_to_bottom() {
    let text = readme();
    let steps = steps(&text);
    assert!(steps.len() > 10, "the README has its console blocks");

    let exe = PathBuf::from(env!("CARGO_BIN_EXE_raigate"));
    let bin_dir = exe.parent().unwrap().to_path_buf();
    let examples = bin_dir.join("examples");
    for name in ["ai_service", "mock_upstream"] {
        assert!(
            examples.join(name).exists(),
            "{name} not built (run through `cargo test`)"
        );
    }
    let work = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    copy_dir(&repo.join("policies"), &work.path().join("policies"));
    std::fs::create_dir_all(work.path().join("examples")).unwrap();
    std::fs::copy(
        repo.join("examples/gateway.toml"),
        work.path().join("examples/gateway.toml"),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut shell = Shell::start(work.path(), &path);

    for (n, step) in steps.iter().enumerate() {
        let command = rewrite(&step.command, &examples);
        if let Some(job) = command.trim_end().strip_suffix('&') {
            let log = work.path().join(format!("background-{n}.log"));
            let (out, rc) = shell.run(
                &format!("{} > '{}' 2>&1 &", job.trim_end(), log.display()),
                Duration::from_secs(10),
            );
            assert_eq!((rc, out.len()), (0, 0), "README line {}", step.line);
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                let lines: Vec<String> = text.lines().map(|l| l.trim_end().to_owned()).collect();
                if appears_in_order(&step.expected, &lines) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "README line {}: `{}` did not print {:#?}; it printed {lines:#?}",
                    step.line,
                    step.command,
                    step.expected
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            continue;
        }
        let (out, rc) = shell.run(&command, Duration::from_secs(60));
        assert!(
            rc == 0 && lines_match(&step.expected, &out),
            "README line {}: `{}`\nexited {rc}, expected output:\n{}\nactual output:\n{}",
            step.line,
            step.command,
            step.expected.join("\n"),
            out.join("\n")
        );
    }
}
