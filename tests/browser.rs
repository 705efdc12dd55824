//! The `/ui` page in a real browser: runs the Node test in `tests/browser/`
//! (headless Chromium driven by playwright-core) against this build's
//! daemon. `.ci/deps` installs Chromium and the test's npm packages.

use std::path::Path;
use std::process::Command;

#[test]
fn the_live_viewer_page_works_in_chromium() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "the browser test's packages are missing: run `bash .ci/deps` (or `npm ci` in tests/browser)"
    );
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "Chromium is missing: run `bash .ci/deps` (apt-get install chromium)"
    );
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    let out = Command::new("node")
        .arg("--test")
        .current_dir(&dir)
        .env("CIRCOLOGD", env!("CARGO_BIN_EXE_circologd"))
        .env("UI_SCREENSHOT_DIR", &shots)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // node's runner prints "# pass N" and "# fail 0".
    assert!(stdout.contains("# fail 0"), "{stdout}");
    assert!(
        !stdout.contains("# pass 0"),
        "no browser test ran:\n{stdout}"
    );
}
