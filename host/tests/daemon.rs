//! The daemon as applications meet it: the real `skipwalk` binary runs as a daemon process on
//! a socket in a fresh temporary directory, and the tests talk to it over the socket, as
//! well-behaved applications, as broken or hostile peers, and as an application that is
//! killed in the middle of its transfers.
//!
//! `child_application_that_gets_killed` is not a test of its own: it is the application that
//! `a_killed_application_loses_its_vis_and_memory_and_others_keep_running` starts (by running
//! this test binary again) and kills. Without [`CHILD_SOCKET_ENV`] it returns at once.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use abi::translator::TranslationMode;
use abi::{Access, Status};
use rand::{Rng, SeedableRng};
use skipwalk::client::RemoteControl;
use skipwalk::verbs::{Control, MemoryRegion, Session, Vi};
use skipwalk::wire::{self, Received, Request, Response, MAX_MESSAGE, PROTOCOL_VERSION};

/// The `skipwalk` executable under test.
const BIN: &str = env!("CARGO_BIN_EXE_skipwalk");
/// Set (to the daemon's socket) when this test binary runs as the application that is killed.
const CHILD_SOCKET_ENV: &str = "SKIPWALK_TEST_CHILD_SOCKET";
/// How long the daemon may take to create its socket.
const STARTUP: Duration = Duration::from_secs(60);
/// How long a completion or a socket answer may take.
const TIMEOUT: Duration = Duration::from_secs(30);
const PAGE: u64 = abi::PAGE_SIZE;
/// Where a [`Loopback`] sends from and receives into (one page each, so nothing is split).
const SEND_AT: u64 = 0;
const RECV_AT: u64 = 2 * PAGE;

// ---------------------------------------------------------------------------------------------
// The daemon process

/// A `skipwalk daemon` on a socket in a temporary directory of its own; killed (and the
/// directory removed) when dropped. On a failing test its log is printed.
struct DaemonProcess {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
    log: PathBuf,
}

impl DaemonProcess {
    /// Starts a daemon for the test `tag` (short: socket paths are limited to 107 bytes) and
    /// waits for its socket.
    fn start(tag: &str) -> DaemonProcess {
        let dir = std::env::temp_dir().join(format!("skipwalk-test-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating the test directory");
        let socket = dir.join("d.sock");
        let log = dir.join("daemon.log");
        let child = Command::new(BIN)
            .arg("daemon")
            .arg("--socket")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("creating the daemon log"))
            .spawn()
            .expect("starting `skipwalk daemon`");
        let mut d = DaemonProcess {
            child,
            dir,
            socket,
            log,
        };
        let started = Instant::now();
        // The daemon renames its socket into place once it listens.
        while !d.socket.exists() {
            if let Some(status) = d.child.try_wait().expect("polling the daemon") {
                panic!(
                    "the daemon exited ({status}) before listening:\n{}",
                    d.log()
                );
            }
            assert!(
                started.elapsed() < STARTUP,
                "no socket at {} after {STARTUP:?}:\n{}",
                d.socket.display(),
                d.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    /// What the daemon wrote to stderr so far.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn assert_alive(&mut self) {
        if let Some(status) = self.child.try_wait().expect("polling the daemon") {
            panic!("the daemon died ({status}):\n{}", self.log());
        }
    }

    /// The names of the application pools the daemon has mapped (memfds `skipwalk-pool-*`).
    fn mapped_pools(&self) -> BTreeSet<String> {
        let maps = std::fs::read_to_string(format!("/proc/{}/maps", self.child.id()))
            .expect("reading the daemon's memory map");
        maps.lines()
            .filter_map(|l| l.split("/memfd:").nth(1))
            .filter(|name| name.starts_with("skipwalk-pool-"))
            .map(|name| name.trim_end_matches(" (deleted)").to_string())
            .collect()
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- daemon log ---\n{}--- end ---", self.log());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A child process killed (and reaped) when dropped, so that a failing test leaves none.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn skipwalk(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running skipwalk")
}

/// `skipwalk info --socket P --json`, which must succeed.
fn info(socket: &Path) -> serde_json::Value {
    let out = skipwalk(&["info", "--socket", socket.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "skipwalk info failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("info --json prints JSON")
}

/// The VI numbers in use, from `info`.
fn vis_in_use(info: &serde_json::Value) -> Vec<u64> {
    info["vi_state"]
        .as_array()
        .expect("vi_state is an array")
        .iter()
        .map(|v| v["vi"].as_u64().expect("vi is a number"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// A well-behaved application

/// A registered pool and two VIs of one session, to send messages from one to the other
/// through the device's loopback port.
struct Loopback {
    a: Vi,
    b: Vi,
    mr: MemoryRegion,
}

impl Loopback {
    fn open(session: &Session) -> Loopback {
        let pool = session.alloc(4 * PAGE).expect("allocating a pool");
        let mr = session
            .register(&pool, 0, pool.len(), Access::ReadWrite)
            .expect("registering the pool");
        let a = session
            .open_vi(TranslationMode::Shortcut, 4)
            .expect("opening VI a");
        let b = session
            .open_vi(TranslationMode::Shortcut, 4)
            .expect("opening VI b");
        Loopback { a, b, mr }
    }

    /// Sends `len` random bytes from VI a to VI b and checks every byte that arrives.
    fn transfer(&mut self, len: usize, seed: u64) {
        assert!(len as u64 <= PAGE);
        let mut payload = vec![0u8; len];
        rand::rngs::SmallRng::seed_from_u64(seed).fill(&mut payload[..]);
        assert!(self.mr.write(SEND_AT, &payload));
        assert!(self.mr.write(RECV_AT, &vec![0u8; PAGE as usize]));
        let (from, to) = (self.a.number(), self.b.number());
        // SAFETY: the buffers are touched again only after their completions.
        unsafe {
            let n = self.b.batch().post_recv(&self.mr, RECV_AT, PAGE, 11);
            assert_eq!(n.expect("posting the receive"), 1);
            let n = self
                .a
                .batch()
                .post_send(&self.mr, SEND_AT, len as u64, to, 22);
            assert_eq!(n.expect("posting the send"), 1);
        }
        let sent = self.a.wait(1, TIMEOUT).expect("the send completes");
        assert_eq!(sent[0].status(), Some(Status::Ok), "send: {:?}", sent[0]);
        assert_eq!(sent[0].wr_id, 22);
        let got = self.b.wait(1, TIMEOUT).expect("the receive completes");
        assert_eq!(got[0].status(), Some(Status::Ok), "receive: {:?}", got[0]);
        assert_eq!(got[0].wr_id, 11);
        assert_eq!(got[0].bytes as usize, len);
        assert_eq!(got[0].peer, from);
        let mut back = vec![0u8; len];
        assert!(self.mr.read(RECV_AT, &mut back));
        assert!(
            back == payload,
            "the received bytes differ from the sent ones"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Raw peers

fn raw_connect(socket: &Path) -> OwnedFd {
    let fd = wire::connect(socket).expect("connecting");
    let tv = libc::timeval {
        tv_sec: TIMEOUT.as_secs() as libc::time_t,
        tv_usec: 0,
    };
    // SAFETY: setsockopt on our socket with a valid timeval.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&raw const tv).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_RCVTIMEO: {}", std::io::Error::last_os_error());
    fd
}

/// Sends `bytes` as one message, as they are.
fn send_raw(fd: &OwnedFd, bytes: &[u8]) -> std::io::Result<()> {
    // SAFETY: send(2) from a valid buffer on our socket.
    let n = unsafe {
        libc::send(
            fd.as_raw_fd(),
            bytes.as_ptr().cast(),
            bytes.len(),
            libc::MSG_NOSIGNAL,
        )
    };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    assert_eq!(
        n as usize,
        bytes.len(),
        "a seqpacket send is all or nothing"
    );
    Ok(())
}

/// Says hello as a client does and expects the daemon's `ok`.
fn hello(fd: &OwnedFd) {
    let req = Request::Hello {
        version: PROTOCOL_VERSION,
    };
    wire::send(fd.as_fd(), &req, &[]).expect("sending hello");
    match wire::recv(fd.as_fd()).expect("receiving the answer to hello") {
        Received::Message(body, fds) => {
            assert!(fds.is_empty());
            let r: Response = wire::decode(&body).expect("a response");
            assert!(matches!(r, Response::Ok), "hello answered with {r:?}");
        }
        Received::Closed => panic!("the daemon closed the connection after hello"),
    }
}

/// Waits until the daemon closes `fd`; before that it may only send errors. Returns their
/// messages.
fn expect_closed(fd: &OwnedFd, what: &str) -> Vec<String> {
    let mut errors = vec![];
    loop {
        match wire::recv(fd.as_fd()) {
            Ok(Received::Closed) => return errors,
            Ok(Received::Message(body, fds)) => {
                assert!(fds.is_empty(), "{what}: the daemon sent descriptors");
                match wire::decode::<Response>(&body) {
                    Ok(Response::Error { message }) => errors.push(message),
                    r => panic!("{what}: the daemon answered {r:?} instead of disconnecting"),
                }
            }
            Err(skipwalk::Error::Io { source, .. })
                if source.kind() == std::io::ErrorKind::WouldBlock =>
            {
                panic!("{what}: the daemon did not close the connection within {TIMEOUT:?}")
            }
            // A reset (the daemon closed with our message unread) is a close too.
            Err(_) => return errors,
        }
    }
}

/// The first run of `n` consecutive hex digits in `text`.
fn hex_run(text: &str, n: usize) -> Option<&str> {
    let bytes = text.as_bytes();
    let mut start = 0;
    for (i, b) in bytes.iter().enumerate() {
        if !b.is_ascii_hexdigit() {
            start = i + 1;
        } else if i + 1 - start >= n {
            return Some(&text[start..=i]);
        }
    }
    None
}

fn assert_no_key_in(what: &str, text: &str) {
    if let Some(run) = hex_run(text, 32) {
        panic!("{what} contains 32 consecutive hex digits (a 128-bit key?): {run}\n{text}");
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn garbage_on_the_socket_disconnects_only_that_client() {
    let mut daemon = DaemonProcess::start("garbage");
    let good = Session::connect(&daemon.socket).expect("connecting a well-behaved client");
    let mut lo = Loopback::open(&good);
    lo.transfer(1000, 1);

    // Not JSON at all, as the first message.
    let fd = raw_connect(&daemon.socket);
    send_raw(&fd, b"\x00\xffthis is not JSON{{{").unwrap();
    expect_closed(&fd, "not JSON");

    // Not JSON, after a proper hello.
    let fd = raw_connect(&daemon.socket);
    hello(&fd);
    send_raw(&fd, b"GET / HTTP/1.0\r\n\r\n").unwrap();
    expect_closed(&fd, "not JSON after hello");

    // Valid JSON of an unknown op.
    let fd = raw_connect(&daemon.socket);
    hello(&fd);
    wire::send(fd.as_fd(), &serde_json::json!({"op": "format_disk"}), &[]).unwrap();
    expect_closed(&fd, "unknown op");

    // A known op with a field it does not have.
    let fd = raw_connect(&daemon.socket);
    hello(&fd);
    let req = serde_json::json!({"op": "alloc_pool", "len": 4096, "phys": 0});
    wire::send(fd.as_fd(), &req, &[]).unwrap();
    expect_closed(&fd, "unknown field");

    // A valid request before hello.
    let fd = raw_connect(&daemon.socket);
    wire::send(fd.as_fd(), &Request::Info, &[]).unwrap();
    expect_closed(&fd, "request before hello");

    // A second hello.
    let fd = raw_connect(&daemon.socket);
    hello(&fd);
    let req = Request::Hello {
        version: PROTOCOL_VERSION,
    };
    wire::send(fd.as_fd(), &req, &[]).unwrap();
    expect_closed(&fd, "second hello");

    // A protocol version the daemon does not speak: an error that says so, then the close.
    let fd = raw_connect(&daemon.socket);
    let req = Request::Hello {
        version: PROTOCOL_VERSION + 1,
    };
    wire::send(fd.as_fd(), &req, &[]).unwrap();
    let errors = expect_closed(&fd, "wrong version");
    assert!(
        errors.iter().any(|e| e.contains("protocol version")),
        "wrong version: {errors:?}"
    );

    // Descriptors the daemon did not ask for.
    let fd = raw_connect(&daemon.socket);
    hello(&fd);
    let devnull = File::open("/dev/null").unwrap();
    wire::send(fd.as_fd(), &Request::Info, &[devnull.as_fd()]).unwrap();
    expect_closed(&fd, "unsolicited descriptors");

    // A message larger than the protocol allows (a valid request padded with blanks), if the
    // kernel lets us send one that large.
    let fd = raw_connect(&daemon.socket);
    hello(&fd);
    let mut big = br#"{"op": "info"}"#.to_vec();
    big.resize(MAX_MESSAGE + 1, b' ');
    match send_raw(&fd, &big) {
        Ok(()) => {
            expect_closed(&fd, "oversized message");
        }
        Err(e) => eprintln!("skipped the oversized message: the kernel refused it ({e})"),
    }

    // The well-behaved client, connected all along, still works.
    lo.transfer(4096, 2);
    lo.transfer(1, 3);
    daemon.assert_alive();
    let mut expected = vec![u64::from(lo.a.number()), u64::from(lo.b.number())];
    expected.sort_unstable();
    let mut in_use = vis_in_use(&info(&daemon.socket));
    in_use.sort_unstable();
    assert_eq!(in_use, expected, "only the well-behaved client has VIs");
    // And so does a new one.
    let again = Session::connect(&daemon.socket).expect("connecting after the garbage");
    drop(lo);
    Loopback::open(&again).transfer(2000, 4);
    daemon.assert_alive();
    assert_no_key_in("the daemon log", &daemon.log());
}

/// The application `a_killed_application_loses_its_vis_and_memory_and_others_keep_running`
/// starts and kills: registers a pool, opens a VI, posts 64 sends of 64 KiB to its own VI
/// (no receive buffers: the frames are dropped, the sends complete), says `posted VI N`
/// and sleeps until killed. Not a test: without `SKIPWALK_TEST_CHILD_SOCKET` it returns.
#[test]
fn child_application_that_gets_killed() {
    let Some(socket) = std::env::var_os(CHILD_SOCKET_ENV) else {
        return;
    };
    const LEN: u64 = abi::queues::MAX_MESSAGE_LEN;
    let session = Session::connect(Path::new(&socket)).expect("child: connecting");
    let pool = session.alloc(2 * LEN).expect("child: allocating");
    assert!(pool.write(0, &vec![0x5a; 2 * LEN as usize]));
    let mr = session
        .register(&pool, 0, pool.len(), Access::Read)
        .expect("child: registering");
    let mut vi = session
        .open_vi(TranslationMode::Shortcut, 8)
        .expect("child: opening a VI");
    let me = vi.number();
    let mut descriptors = 0;
    {
        let mut batch = vi.batch();
        for i in 0..64 {
            // SAFETY: the buffer is never written again.
            descriptors += unsafe { batch.post_send(&mr, LEN / 2, LEN, me, i) }
                .expect("child: posting a send");
        }
    }
    let mut out = std::io::stdout();
    writeln!(out, "posted VI {me} ({descriptors} descriptors)").unwrap();
    out.flush().unwrap();
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

#[test]
fn a_killed_application_loses_its_vis_and_memory_and_others_keep_running() {
    let mut daemon = DaemonProcess::start("killed");
    // An application that is running before, while and after the other one dies.
    let keeper = Session::connect(&daemon.socket).expect("connecting");
    let mut lo = Loopback::open(&keeper);
    lo.transfer(1500, 10);
    let pools_before = daemon.mapped_pools();
    assert_eq!(pools_before.len(), 1, "the keeper's pool: {pools_before:?}");

    let child_err = daemon.dir.join("child.err");
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_application_that_gets_killed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_SOCKET_ENV, &daemon.socket)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(File::create(&child_err).unwrap())
        .spawn()
        .expect("starting the child application");
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    let child_vi: u64 = loop {
        let line = rx.recv_timeout(TIMEOUT).unwrap_or_else(|e| {
            panic!(
                "the child did not say `posted` ({e}); its stderr:\n{}",
                std::fs::read_to_string(&child_err).unwrap_or_default()
            )
        });
        // libtest's `test NAME ... ` precedes it on the same line.
        if let Some((_, rest)) = line.split_once("posted VI ") {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
        assert!(started.elapsed() < TIMEOUT, "the child said no `posted`");
    };
    let during = info(&daemon.socket);
    assert!(
        vis_in_use(&during).contains(&child_vi),
        "the child's VI {child_vi} is not in use: {during}"
    );
    let pools_during = daemon.mapped_pools();
    assert!(
        pools_during.len() > pools_before.len(),
        "the child's pool is not mapped in the daemon: {pools_during:?}"
    );

    // SIGKILL, with its sends in flight.
    child.0.kill().expect("killing the child");
    child.0.wait().expect("reaping the child");

    let started = Instant::now();
    let after = loop {
        let i = info(&daemon.socket);
        if !vis_in_use(&i).contains(&child_vi) {
            break i;
        }
        daemon.assert_alive();
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the killed child's VI {child_vi} is still in use after 30 s: {i}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    daemon.assert_alive();
    let mut keeper_vis = vec![u64::from(lo.a.number()), u64::from(lo.b.number())];
    keeper_vis.sort_unstable();
    let mut in_use = vis_in_use(&after);
    in_use.sort_unstable();
    assert_eq!(in_use, keeper_vis, "{after}");
    // Its memory is gone from the daemon too.
    assert_eq!(daemon.mapped_pools(), pools_before);
    // And the device sends nothing more for it.
    let tx = after["tx_frames"].as_u64().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(info(&daemon.socket)["tx_frames"].as_u64().unwrap(), tx);

    // The application that was running keeps running...
    lo.transfer(4000, 11);
    // ...and a new one gets the freed VI and memory.
    drop(lo);
    drop(keeper);
    let fresh = Session::connect(&daemon.socket).expect("connecting after the kill");
    let mut lo = Loopback::open(&fresh);
    lo.transfer(3000, 12);
    lo.transfer(17, 13);
    daemon.assert_alive();
    assert_no_key_in("the daemon log", &daemon.log());
}

#[test]
fn register_refuses_bad_ranges_with_clear_errors() {
    let mut daemon = DaemonProcess::start("register");

    // Raw registrations over the socket, as a client may send them.
    let mut ctl = RemoteControl::connect(&daemon.socket).expect("connecting");
    let (grant, region) = ctl.alloc_pool(4 * PAGE).expect("allocating");
    let pool_va = region.as_ptr() as u64;
    let pool_len = region.len() as u64;
    assert_eq!(grant.len, pool_len);
    let mut other = RemoteControl::connect(&daemon.socket).expect("connecting a second client");
    let (other_grant, other_region) = other.alloc_pool(PAGE).expect("allocating");
    let cases: [(&str, u64, u64, u64, &str); 7] = [
        ("zero length", grant.id, pool_va, 0, "zero length"),
        (
            "past the pool's end",
            grant.id,
            pool_va + pool_len - PAGE,
            2 * PAGE,
            "outside",
        ),
        ("before the pool", grant.id, pool_va - PAGE, PAGE, "outside"),
        (
            "overflowing",
            grant.id,
            u64::MAX - PAGE + 1,
            2 * PAGE,
            "overflows",
        ),
        (
            "beyond the VA space",
            grant.id,
            (1 << abi::VA_BITS) - PAGE,
            2 * PAGE,
            "47-bit",
        ),
        (
            "unknown pool",
            grant.id + 1000,
            pool_va,
            PAGE,
            "unknown pool",
        ),
        (
            "another client's pool",
            other_grant.id,
            pool_va,
            PAGE,
            "unknown pool",
        ),
    ];
    for (what, pool, va, len, expected) in cases {
        let e = ctl
            .register(pool, pool_va, va, len, Access::Read)
            .err()
            .unwrap_or_else(|| panic!("{what}: registered"));
        let msg = e.to_string();
        assert!(
            msg.contains(expected),
            "{what}: the error {msg:?} does not say {expected:?}"
        );
        // The session is intact: a good registration works and is revoked.
        let ok = ctl
            .register(grant.id, pool_va, pool_va + PAGE, PAGE, Access::Read)
            .unwrap_or_else(|e| panic!("after {what}: {e}"));
        assert!(!ok.shortcuts.is_empty());
        ctl.deregister(ok.id)
            .unwrap_or_else(|e| panic!("after {what}: {e}"));
    }
    // The second client's pool is untouched by the first one's attempt.
    let ok = other
        .register(
            other_grant.id,
            other_region.as_ptr() as u64,
            other_region.as_ptr() as u64,
            PAGE,
            Access::Read,
        )
        .expect("the second client registers its own pool");
    other.deregister(ok.id).unwrap();
    ctl.info().expect("info after the refusals");
    drop(other);

    // Through the application API.
    let session = Session::connect(&daemon.socket).expect("connecting");
    let pool = session.alloc(4 * PAGE).expect("allocating");
    let api_cases: [(&str, u64, u64, &str); 3] = [
        ("zero length", 0, 0, "zero length"),
        ("past the pool's end", 3 * PAGE, 2 * PAGE, "outside"),
        ("overflowing offset", u64::MAX, 1, "overflows"),
    ];
    for (what, offset, len, expected) in api_cases {
        let msg = session
            .register(&pool, offset, len, Access::Read)
            .err()
            .unwrap_or_else(|| panic!("{what}: registered"))
            .to_string();
        assert!(
            msg.contains(expected),
            "{what}: the error {msg:?} does not say {expected:?}"
        );
    }
    drop(pool);
    Loopback::open(&session).transfer(2500, 20);
    daemon.assert_alive();
}

#[test]
fn silent_connections_hold_no_protection_domain_and_the_ninth_session_is_told_why() {
    let mut d = DaemonProcess::start("pds");
    // Connections that never say hello take no PD: a real application still gets one.
    let silent: Vec<OwnedFd> = (0..abi::NUM_PDS).map(|_| raw_connect(&d.socket)).collect();
    let mut sessions = vec![Session::connect(&d.socket).expect("a session besides silent ones")];
    for _ in 1..abi::NUM_PDS {
        sessions.push(Session::connect(&d.socket).expect("one session per PD"));
    }
    let refused = Session::connect(&d.socket)
        .err()
        .expect("no ninth PD")
        .to_string();
    assert!(refused.contains("no free protection domain"), "{refused}");
    drop(sessions.pop());
    let mut again = None;
    for _ in 0..200 {
        // The daemon closes the dropped session on its next loop.
        if let Ok(s) = Session::connect(&d.socket) {
            again = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(again.is_some(), "a freed PD is given out again");
    drop(silent);
    d.assert_alive();
}

#[test]
fn cli_errors_name_the_argument() {
    let cases: &[(&[&str], &[&str])] = &[
        (&["-d", "bogus", "info"], &["--device", "sim"]),
        (&["-d", "vfio:0000:01:00.0", "info"], &["--device", "sim"]),
        (&["demo", "--messages", "0"], &["--messages"]),
        (&["demo", "--latency", "0"], &["--latency"]),
        (&["bench", "--latency", "abc"], &["--latency"]),
        (&["daemon", "--latency", "99999999"], &["--latency"]),
        (
            &[
                "shortcut",
                "mint",
                "--key",
                "c0ffee",
                "--table-frame",
                "1",
                "--generation",
                "0",
                "--va",
                "0x1000",
            ],
            &["--key", "32 hex digits"],
        ),
        (
            &[
                "shortcut",
                "mint",
                "--key",
                "00112233445566778899aabbccddeeff",
                "--table-frame",
                "1",
                "--generation",
                "999",
                "--va",
                "0x1000",
            ],
            &["--generation"],
        ),
        (
            &[
                "shortcut",
                "open",
                "--key",
                "00112233445566778899aabbccddeeff",
                "--shortcut",
                "xyz",
            ],
            &["--shortcut"],
        ),
        (&["frobnicate"], &["frobnicate"]),
    ];
    for (args, names) in cases {
        let out = skipwalk(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        for name in *names {
            assert!(
                stderr.contains(name),
                "{args:?}: stderr does not mention {name:?}: {stderr}"
            );
        }
    }
    // A malformed key is not echoed either (it is a secret).
    let out = skipwalk(&[
        "shortcut",
        "mint",
        "--key",
        "c0ffee",
        "--table-frame",
        "1",
        "--generation",
        "0",
        "--va",
        "0",
    ]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("c0ffee"), "the key was echoed: {all}");

    // No daemon at the socket: a failure (1) that says so.
    let out = skipwalk(&["info", "--socket", "/nonexistent/x.sock"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("daemon"), "{stderr}");
    assert!(stderr.contains("/nonexistent/x.sock"), "{stderr}");
}

#[test]
fn keys_never_appear() {
    assert_eq!(
        hex_run("xx0123456789abcdef0123456789ABCDEFyy", 32).map(str::len),
        Some(32)
    );
    assert_eq!(hex_run("0123456789abcdef 0123456789abcdef", 32), None);

    let out = skipwalk(&["demo", "--json", "--messages", "8"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "demo failed ({}): {stderr}",
        out.status
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("demo --json");
    assert_eq!(report["verified"], true, "{stdout}");
    assert_no_key_in("the demo's output", &format!("{stdout}{stderr}"));

    let out = skipwalk(&["info", "--json"]);
    assert!(out.status.success());
    assert_no_key_in(
        "info's output",
        &format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    );
}
