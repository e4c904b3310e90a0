//! Helpers of the library's own unit tests.

/// Whether this process is the child running the test `name` alone (see [`run_in_child`]).
pub(crate) fn is_child(name: &str) -> bool {
    std::env::var("PLUGINLAKE_CHILD_TEST").as_deref() == Ok(name)
}

/// Run the unit test `name` (its full path) alone in a child process of this test binary, with
/// the environment variables `envs`; assert that it passed and return what it printed. Memory
/// measurements need a process of their own: a process running other tests says nothing.
pub(crate) fn run_in_child(name: &str, envs: &[(&str, &std::ffi::OsStr)]) -> String {
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env("PLUGINLAKE_CHILD_TEST", name);
    for (key, value) in envs {
        command.env(key, value);
    }
    let out = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
