//! `s3s-fs`: a small S3-compatible server on a local directory, from
//! crates.io.

use std::path::PathBuf;
use std::process::Command;

use object_store::aws::AmazonS3Builder;
use texjail::shared::store::{Settings, SharedResults};

use super::{free_port, installed, Process, StoreServer};

pub const ACCESS_KEY: &str = "texjail-test";
pub const SECRET_KEY: &str = "texjail-test-secret";
pub const BUCKET: &str = "results";

/// A running `s3s-fs` serving a temporary directory; killed on drop.
pub struct S3Server {
    process: Process,
    pub port: u16,
    /// The served directory: each bucket is a directory in it.
    pub root: tempfile::TempDir,
}

impl S3Server {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl StoreServer for S3Server {
    fn start() -> S3Server {
        let root = tempfile::Builder::new()
            .prefix("texjail-s3-")
            .tempdir()
            .unwrap();
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let mut server = S3Server {
            process: Process::default(),
            port: free_port(),
            root,
        };
        server.resume();
        server
    }

    fn resume(&mut self) {
        let home = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/s3s-fs"));
        let program = installed(
            "s3s-fs",
            &home.into_iter().collect::<Vec<_>>(),
            "cargo install --locked s3s-fs@0.14.1 --features binary",
        );
        let mut command = Command::new(program);
        command
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(self.root.path());
        self.process.spawn(&mut command, self.port, "s3s-fs");
    }

    fn stop(&mut self) {
        self.process.kill();
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TEXJAIL_SHARED_S3_BUCKET", BUCKET.to_string()),
            ("TEXJAIL_SHARED_S3_ENDPOINT", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
        ]
    }

    fn results(&self) -> SharedResults {
        let builder = AmazonS3Builder::new()
            .with_access_key_id(ACCESS_KEY)
            .with_secret_access_key(SECRET_KEY)
            .with_region("us-east-1");
        let settings = Settings {
            url: String::new(),
            s3_bucket: BUCKET.into(),
            s3_endpoint: self.endpoint(),
            s3_prefix: "t".into(),
        };
        SharedResults::open_s3(builder, &settings).unwrap()
    }
}

each_check!(S3Server);
