//! Azurite: Microsoft's Azure Storage emulator, from npm. texjail talks
//! to it as to Azure itself: an account name, its key and the account's
//! endpoint (`AZURE_STORAGE_ENDPOINT`), never the SDK's emulator switch.

use std::io::{Read, Write};
use std::process::Command;

use base64::Engine;
use hmac::{Hmac, Mac};
use object_store::azure::MicrosoftAzureBuilder;
use sha2::Sha256;
use texjail::shared::store::SharedResults;

use super::{free_port, installed, Process, StoreServer};

/// Azurite's fixed development account and its published key.
const ACCOUNT: &str = "devstoreaccount1";
const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
pub const CONTAINER: &str = "results";

/// A running Azurite blob service on a temporary directory; killed on drop.
pub struct Azurite {
    process: Process,
    pub port: u16,
    pub root: tempfile::TempDir,
}

impl Azurite {
    /// The account's endpoint, path-style as Azurite serves it.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/{ACCOUNT}", self.port)
    }

    /// Creates the container (object stores never create theirs), with a
    /// request signed by the account key. An existing one is fine.
    fn create_container(&self) {
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        let version = "2021-08-06";
        let to_sign = format!(
            "PUT\n{}x-ms-date:{date}\nx-ms-version:{version}\n/{ACCOUNT}/{ACCOUNT}/{CONTAINER}\nrestype:container",
            "\n".repeat(11)
        );
        let key = base64::engine::general_purpose::STANDARD
            .decode(ACCOUNT_KEY)
            .unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(to_sign.as_bytes());
        let signature =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let request = format!(
            "PUT /{ACCOUNT}/{CONTAINER}?restype=container HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nx-ms-date: {date}\r\nx-ms-version: {version}\r\nAuthorization: SharedKey {ACCOUNT}:{signature}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        );
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let status = answer.split_whitespace().nth(1).unwrap_or("");
        assert!(
            status == "201" || status == "409",
            "Azurite refused to create the container: {answer}"
        );
    }
}

impl StoreServer for Azurite {
    fn start() -> Azurite {
        let root = tempfile::Builder::new()
            .prefix("texjail-azurite-")
            .tempdir()
            .unwrap();
        let mut server = Azurite {
            process: Process::default(),
            port: free_port(),
            root,
        };
        server.resume();
        server
    }

    fn resume(&mut self) {
        let program = installed("azurite-blob", &[], "npm install -g azurite@3.35.0");
        let mut command = Command::new(program);
        command
            .args([
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                &self.port.to_string(),
            ])
            .arg("--location")
            .arg(self.root.path())
            .args(["--silent", "--disableTelemetry", "--skipApiVersionCheck"]);
        self.process.spawn(&mut command, self.port, "azurite-blob");
        // Azurite writes its metadata lazily: a SIGKILL may lose the container.
        self.create_container();
    }

    fn stop(&mut self) {
        self.process.kill();
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TEXJAIL_SHARED_URL", format!("az://{CONTAINER}/t")),
            ("AZURE_STORAGE_ACCOUNT_NAME", ACCOUNT.to_string()),
            ("AZURE_STORAGE_ACCOUNT_KEY", ACCOUNT_KEY.to_string()),
            ("AZURE_STORAGE_ENDPOINT", self.endpoint()),
        ]
    }

    fn results(&self) -> SharedResults {
        let builder = MicrosoftAzureBuilder::new()
            .with_account(ACCOUNT)
            .with_access_key(ACCOUNT_KEY)
            .with_endpoint(self.endpoint());
        SharedResults::open_azure(builder, CONTAINER, "t").unwrap()
    }
}

each_check!(Azurite);
