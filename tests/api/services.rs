//! Dependencies a fault test owns: its own Redis and PostgreSQL servers on spare ports
//! (stopped and started by the test), a port that refuses, and a TCP black hole that
//! accepts connections and never answers. The shared servers CI runs are never touched.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::helpers::within;

/// Whether this machine can run the tests' own servers (`redis-server`, and
/// PostgreSQL's `initdb`/`pg_ctl`). Without them a test says it is skipped, unless
/// `REQUIRE_FAULT_TESTS` is set (CI sets it): then their absence fails the test.
pub fn own_servers_or_skip() -> bool {
    let redis = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| dir.join("redis-server").is_file())
    });
    let postgres = postgres_bin_dir().is_some();
    if redis && postgres {
        return true;
    }
    let missing = format!(
        "redis-server {}, PostgreSQL server programs {}",
        if redis { "found" } else { "missing" },
        if postgres { "found" } else { "missing" }
    );
    assert!(
        std::env::var_os("REQUIRE_FAULT_TESTS").is_none(),
        "fault tests required, but {missing} (apt-get install redis-server postgresql)"
    );
    eprintln!("skipped: {missing} (apt-get install redis-server postgresql)");
    false
}

/// A port nothing listens on (bound, then released), below Linux's ephemeral range
/// (32768–60999): a node reconnecting to it while its server is down can then never
/// be handed it as its own source port, nor can another test's outgoing connection
/// take it before the server starts again.
pub fn free_port() -> u16 {
    loop {
        let port = 20_000 + (rand::random::<u16>() % 12_000);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Accepts TCP connections and never reads or writes: a server that hangs.
pub struct BlackHole {
    pub port: u16,
}

impl BlackHole {
    pub fn start() -> BlackHole {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the black hole");
        let port = listener.local_addr().expect("address").port();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                held.push(stream);
            }
        });
        BlackHole { port }
    }
}

/// A Redis server of the test's own (no persistence), stoppable and restartable on
/// the same port.
pub struct OwnRedis {
    pub port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    pub async fn start() -> OwnRedis {
        OwnRedis::start_on(free_port()).await
    }

    pub async fn start_on(port: u16) -> OwnRedis {
        let mut redis = OwnRedis { port, child: None };
        redis.resume().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) and waits until it answers.
    pub async fn resume(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (apt-get install redis-server)");
        self.child = Some(child);
        let url = self.url();
        within(
            Instant::now(),
            Duration::from_secs(20),
            "the test's Redis did not start",
            || async {
                let Ok(client) = redis::Client::open(url.as_str()) else {
                    return false;
                };
                let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
                    return false;
                };
                redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .is_ok()
            },
        )
        .await;
    }

    /// Kills the server (as a crash would) and waits until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A PostgreSQL server of the test's own, in a temporary directory, stoppable and
/// restartable on the same port. Run as the `postgres` user when the tests run as root
/// (PostgreSQL refuses to run as root).
pub struct OwnPostgres {
    pub port: u16,
    dir: tempfile::TempDir,
    bin: PathBuf,
}

/// The newest `/usr/lib/postgresql/<version>/bin` with `initdb` (Debian's layout).
fn postgres_bin_dir() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

/// `/proc/self` belongs to the process's effective user.
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

impl OwnPostgres {
    pub async fn start() -> OwnPostgres {
        let dir = tempfile::Builder::new()
            .prefix("tailor-pg-")
            .tempdir()
            .expect("tempdir");
        let bin = postgres_bin_dir().expect("initdb under /usr/lib/postgresql/*/bin");
        let pg = OwnPostgres {
            port: free_port(),
            dir,
            bin,
        };
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(pg.dir.path())
                .status()
                .expect("chown");
            assert!(status.success(), "chown the PostgreSQL directory");
        }
        pg.run(
            "initdb",
            &[
                "-D",
                &pg.data().display().to_string(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        pg.resume().await;
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// One of PostgreSQL's programs, as the `postgres` user when we are root.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&path);
            command
        } else {
            Command::new(&path)
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        let output = self
            .command(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect(program);
        assert!(
            output.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (again); `pg_ctl -w` returns once it accepts connections.
    pub async fn resume(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-l",
                &self.dir.path().join("log").display().to_string(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
    }

    /// Stops the server at once (as a crash would: no clean shutdown).
    pub fn stop(&self) {
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args([
                "-D",
                &self.data().display().to_string(),
                "-m",
                "immediate",
                "stop",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A child process killed when dropped, also when the test fails midway.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A TCP proxy in front of a server that the test can cut (every connection dropped,
/// new ones refused) and restore: one node partitioned from Redis while the others
/// still reach it.
pub struct Proxy {
    pub port: u16,
    cut: tokio::sync::watch::Sender<bool>,
    serving: tokio::sync::watch::Receiver<bool>,
}

impl Proxy {
    pub async fn start(upstream: u16) -> Proxy {
        let port = free_port();
        let (cut, cut_seen) = tokio::sync::watch::channel(false);
        let (serving_tx, serving) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let for_pipes = cut_seen.clone();
            let mut cut_seen = cut_seen;
            loop {
                let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                    .await
                    .expect("the proxy's port");
                let _ = serving_tx.send(true);
                loop {
                    tokio::select! {
                        accepted = listener.accept() => {
                            let Ok((client, _)) = accepted else { continue };
                            tokio::spawn(pipe(client, upstream, for_pipes.clone()));
                        }
                        _ = cut_seen.wait_for(|cut| *cut) => break,
                    }
                }
                drop(listener);
                let _ = serving_tx.send(false);
                if cut_seen.wait_for(|cut| !*cut).await.is_err() {
                    return;
                }
            }
        });
        let mut proxy = Proxy { port, cut, serving };
        proxy.until_serving(true).await;
        proxy
    }

    async fn until_serving(&mut self, serving: bool) {
        self.serving
            .wait_for(|s| *s == serving)
            .await
            .expect("the proxy task runs");
    }

    /// Drops every connection and refuses new ones.
    pub async fn cut(&mut self) {
        let _ = self.cut.send(true);
        self.until_serving(false).await;
    }

    pub async fn restore(&mut self) {
        let _ = self.cut.send(false);
        self.until_serving(true).await;
    }
}

async fn pipe(
    mut client: tokio::net::TcpStream,
    upstream: u16,
    mut cut: tokio::sync::watch::Receiver<bool>,
) {
    let Ok(mut server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = cut.wait_for(|cut| *cut) => {}
    }
}
