//! A local server of the AWS protocol for the EBS snapshot tests: moto's
//! server (`moto_server`, from the virtual environment `scripts/test.sh`
//! makes) on 127.0.0.1, behind the proxy `tests/aws/proxy.py`, which
//! enforces what EBS enforces and moto does not (512 KiB blocks, their
//! checksums, block indexes inside the volume, the aggregate checksum), records
//! each snapshot and RegisterImage request, and injects faults when asked.
//! Both are started by [`AwsServer::start`] and stopped when it is dropped.
//! Snapshots are read back by `tests/aws/readback.py` with boto3.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The access key the proxy accepts.
pub const ACCESS_KEY: &str = "AKIDBLOCKIMGTEST";

/// The virtual environment holding moto and boto3: `BLOCKIMG_MOTO_VENV`,
/// else `moto-venv` in the target directory of the running test (where
/// `scripts/test.sh` makes it).
pub fn venv() -> PathBuf {
    if let Some(dir) = std::env::var_os("BLOCKIMG_MOTO_VENV") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("path of the test executable");
    // target/<profile>/deps/<test executable>
    exe.ancestors()
        .nth(3)
        .expect("the test executable is in target/<profile>/deps")
        .join("moto-venv")
}

/// moto's server and the checking proxy in front of it.
pub struct AwsServer {
    moto: Child,
    proxy: Child,
    /// The proxy's URL: what blockimg talks to.
    pub endpoint: String,
    /// moto's own URL.
    pub moto_endpoint: String,
    dir: tempfile::TempDir,
}

impl AwsServer {
    /// Starts moto and the proxy, passing `proxy_args` to the proxy
    /// (`--fault-rate 0.2`, `--corrupt-block 3`, ...). Returns `None` after
    /// printing `SKIPPED: why` when the virtual environment is missing.
    pub fn start(proxy_args: &[&str]) -> Option<AwsServer> {
        let venv = venv();
        let python = venv.join("bin/python3");
        let moto_server = venv.join("bin/moto_server");
        if !python.is_file() || !moto_server.is_file() {
            eprintln!(
                "SKIPPED: no moto server in {} (scripts/test.sh makes it: python3 -m venv, pip install 'moto[server]')",
                venv.display()
            );
            return None;
        }
        let dir = tempfile::tempdir().expect("temporary directory");
        let port = free_port();
        let moto = Command::new(&moto_server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("moto.log")).expect("moto log"))
            .spawn()
            .expect("start moto_server");
        let moto_endpoint = format!("http://127.0.0.1:{port}");
        let port_file = dir.path().join("proxy.port");
        let proxy = Command::new(&python)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("aws/proxy.py"))
            .args(["--upstream", &format!("127.0.0.1:{port}")])
            .arg("--port-file")
            .arg(&port_file)
            .args(proxy_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("proxy.log")).expect("proxy log"))
            .spawn()
            .expect("start the proxy");
        let mut server = AwsServer {
            moto,
            proxy,
            endpoint: String::new(),
            moto_endpoint,
            dir,
        };
        let started = Instant::now();
        loop {
            let ready = std::fs::read_to_string(&port_file)
                .ok()
                .filter(|_| http_get(&server.moto_endpoint, "/moto-api/").is_some());
            if let Some(proxy_port) = ready {
                server.endpoint = format!("http://127.0.0.1:{}", proxy_port.trim());
                return Some(server);
            }
            if let Ok(Some(status)) = server.moto.try_wait() {
                panic!("moto_server exited ({status}): {}", server.log("moto.log"));
            }
            if let Ok(Some(status)) = server.proxy.try_wait() {
                panic!("the proxy exited ({status}): {}", server.log("proxy.log"));
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "moto or the proxy did not start in 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    /// Points `cmd` at the proxy with the accepted credentials, region
    /// `us-east-1`, and nothing from the user's AWS configuration.
    pub fn env<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        let nowhere = self.dir.path().join("no-aws-config");
        for var in [
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_DEFAULT_REGION",
            "AWS_ENDPOINT_URL_EBS",
            "AWS_ENDPOINT_URL_EC2",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", "secret")
            .env("AWS_CONFIG_FILE", &nowhere)
            .env("AWS_SHARED_CREDENTIALS_FILE", &nowhere)
            .env("AWS_EC2_METADATA_DISABLED", "true")
    }

    /// What the proxy recorded: `snapshots` (by id: `volume_size`,
    /// `parent`, `blocks` (index to SHA-256 hex), `state`), `register_image`
    /// (each request's parameters) and `faults` (by kind).
    pub fn state(&self) -> serde_json::Value {
        let text = http_get(&self.endpoint, "/__proxy/state").expect("the proxy's state");
        serde_json::from_str(&text).expect("the proxy's state is JSON")
    }

    /// Reads snapshot `id` back with boto3 into a raw file of its volume's
    /// size at `out`; with `base`, blocks the snapshot does not hold keep
    /// that file's bytes (an incremental snapshot over its parent). Returns
    /// the number of blocks read.
    pub fn read_snapshot(&self, id: &str, out: &Path, base: Option<&Path>) -> u64 {
        let mut cmd = Command::new(venv().join("bin/python3"));
        cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("aws/readback.py"))
            .args(["--endpoint", &self.moto_endpoint, id])
            .arg(out);
        if let Some(base) = base {
            cmd.arg("--base").arg(base);
        }
        self.env(&mut cmd);
        let output = crate::RunOutput::run(&mut cmd);
        output.assert_success();
        output
            .stdout
            .trim()
            .parse()
            .expect("readback prints a count")
    }
}

impl Drop for AwsServer {
    fn drop(&mut self) {
        for child in [&mut self.proxy, &mut self.moto] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The first word of `out`'s stdout that starts with `prefix` (`snap-`,
/// `ami-`), without a trailing colon.
pub fn printed_id(out: &crate::RunOutput, prefix: &str) -> String {
    out.stdout
        .split_whitespace()
        .find(|w| w.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} in {}", out.stdout))
        .trim_end_matches(':')
        .to_string()
}

/// Starts [`AwsServer`] with `proxy_args` and a temporary directory, or
/// returns `None` after printing why the test is skipped.
pub fn start(proxy_args: &[&str]) -> Option<(AwsServer, tempfile::TempDir)> {
    let server = AwsServer::start(proxy_args)?;
    Some((server, tempfile::tempdir().expect("temporary directory")))
}

/// A TCP port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The body of `GET path` at `endpoint` (`http://HOST:PORT`), if it
/// answers 200.
fn http_get(endpoint: &str, path: &str) -> Option<String> {
    let host = endpoint.strip_prefix("http://")?;
    let mut stream = TcpStream::connect(host).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.0 200")
        .then(|| body.to_string())
        .or_else(|| head.starts_with("HTTP/1.1 200").then(|| body.to_string()))
}

/// Compares the read-back volume `volume` with the disk image `image`
/// (raw) block by block: the image's bytes, then zeros to the end of the
/// volume. Panics at the first block that differs.
pub fn assert_volume_matches(volume: &Path, image: &Path) {
    let mut v = std::fs::File::open(volume).expect("read-back volume");
    let mut i = std::fs::File::open(image).expect("image");
    let image_len = i.metadata().expect("image size").len();
    let volume_len = v.metadata().expect("volume size").len();
    assert!(
        volume_len >= image_len && volume_len % (1 << 30) == 0,
        "the volume has {volume_len} bytes for an image of {image_len}"
    );
    let mut a = vec![0u8; 512 << 10];
    let mut b = vec![0u8; 512 << 10];
    for block in 0..volume_len / (512 << 10) {
        v.read_exact(&mut a).expect("read the volume");
        b.fill(0);
        let mut got = 0;
        while got < b.len() {
            match i.read(&mut b[got..]).expect("read the image") {
                0 => break,
                n => got += n,
            }
        }
        assert!(
            a == b,
            "block {block} of the snapshot differs from the image"
        );
    }
}
