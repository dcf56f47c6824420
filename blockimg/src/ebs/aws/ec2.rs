//! The EC2 calls: DescribeSnapshots (waiting for a snapshot to complete),
//! RegisterImage and DescribeImages (waiting for the image to be
//! available), through EC2's query API: a form-encoded POST signed with
//! SigV4 and an XML answer. The AWS SDK's EC2 crate would do the same for
//! three calls at the price of compiling the whole EC2 API (88 MB of
//! source; see docs/EC2.md).

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_types::error::display::DisplayErrorContext;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::{retry_with, service_verdict, wait_for, Ebs, Verdict};
use crate::ebs::query::{encode, field};
use crate::ebs::{Image, RegisterOptions, Snapshot};
use crate::error::{Call, EbsError, Error, Result};

/// The EC2 API version the query calls speak.
const VERSION: &str = "2016-11-15";

/// How long one query call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// EC2's query API in one region.
pub(super) struct Ec2 {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    credentials: SharedCredentialsProvider,
    region: String,
    endpoint: String,
}

/// Why a query call failed.
enum QueryError {
    /// The server answered with an error.
    Status {
        status: u16,
        code: String,
        message: String,
    },
    /// No answer: the connection failed or timed out.
    Transport(String),
    /// The call could not be made (credentials, signing).
    Local(String),
}

impl Ec2 {
    /// The query API with `config`'s credentials and region, at
    /// `AWS_ENDPOINT_URL_EC2`, else `config`'s endpoint (`AWS_ENDPOINT_URL`),
    /// else the region's.
    pub(super) fn new(
        config: &aws_config::SdkConfig,
        credentials: SharedCredentialsProvider,
        region: &str,
    ) -> Result<Ec2> {
        // ring, as for the SDK's client: aws-lc's post-quantum key exchange
        // would cost a long C build, and EC2 does not need it.
        #[allow(deprecated)]
        let provider = rustls::crypto::ring::default_provider();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider)
            .map_err(|e| Error::io("the system's TLS root certificates", e))?
            .https_or_http()
            .enable_http1()
            .build();
        let endpoint = std::env::var("AWS_ENDPOINT_URL_EC2")
            .ok()
            .or_else(|| config.endpoint_url().map(str::to_string))
            .unwrap_or_else(|| format!("https://ec2.{region}.amazonaws.com"));
        Ok(Ec2 {
            client: Client::builder(TokioExecutor::new()).build(connector),
            credentials,
            region: region.to_string(),
            endpoint: format!("{}/", endpoint.trim_end_matches('/')),
        })
    }

    /// Sends `action` with `params` once; the answer's XML.
    async fn send(&self, action: &str, params: &[(String, String)]) -> Result<String, QueryError> {
        let mut body = format!("Action={action}&Version={VERSION}");
        for (key, value) in params {
            body.push('&');
            body.push_str(&encode(key));
            body.push('=');
            body.push_str(&encode(value));
        }
        let local =
            |what: &str, e: &dyn std::fmt::Display| QueryError::Local(format!("{what}: {e}"));
        let credentials = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| local("credentials", &DisplayErrorContext(e)))?;
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("ec2")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| local("signing", &e))?
            .into();
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let mut request = http::Request::post(&self.endpoint)
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(body.clone())))
            .map_err(|e| local("the request", &e))?;
        let signable = SignableRequest::new(
            "POST",
            self.endpoint.as_str(),
            [("content-type", content_type)].into_iter(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| local("signing", &e))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| local("signing", &e))?
            .into_parts();
        instructions.apply_to_request_http1x(&mut request);
        let transport =
            |e: &dyn std::error::Error| QueryError::Transport(DisplayErrorContext(e).to_string());
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| transport(&e))?;
            let status = response.status().as_u16();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| transport(&e))?
                .to_bytes();
            Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
        };
        let (status, text) = tokio::time::timeout(CALL_TIMEOUT, exchange)
            .await
            .map_err(|_| QueryError::Transport(format!("no answer in {CALL_TIMEOUT:?}")))??;
        if (200..300).contains(&status) {
            return Ok(text);
        }
        Err(QueryError::Status {
            status,
            code: field(&text, "Code").unwrap_or_else(|| "(no error code)".into()),
            message: field(&text, "Message").unwrap_or_default(),
        })
    }

    /// Makes `call` with retries: the answer's XML.
    async fn query(
        &self,
        attempts: u32,
        call: &Call,
        action: &str,
        params: &[(String, String)],
    ) -> Result<String, EbsError> {
        retry_with(
            attempts,
            || call.clone(),
            || self.send(action, params),
            |error| match error {
                QueryError::Status {
                    status,
                    code,
                    message,
                } => service_verdict(*status, code.clone(), message.clone()),
                QueryError::Transport(reason) => Verdict::Retry(reason.clone()),
                QueryError::Local(reason) => Verdict::Fail(reason.clone()),
            },
        )
        .await
    }
}

impl Ebs {
    /// Waits until DescribeSnapshots says `snapshot` is `completed`; its
    /// `error` state is an error.
    pub(super) fn wait_snapshot_completed(&self, snapshot: &str) -> Result<()> {
        let wait = Wait {
            call: Call::new("DescribeSnapshots").snapshot(snapshot),
            action: "DescribeSnapshots",
            params: vec![("SnapshotId.1".into(), snapshot.into())],
            not_found: "InvalidSnapshot.NotFound",
            state: "status",
            done: "completed",
            failed: &["error"],
            message: "statusMessage",
        };
        let error = |reason| EbsError::Snapshot {
            snapshot: snapshot.into(),
            reason,
        };
        self.block_on(self.inner.ec2.wait(self.inner.attempts, &wait, error))
            .map_err(Error::from)
    }
}

/// A state to wait for: what to ask, where the answer says the state,
/// which state ends the wait and which are failures.
struct Wait<'a> {
    call: Call,
    action: &'a str,
    params: Vec<(String, String)>,
    /// The error code of an answer that does not know the resource yet
    /// (EC2 is eventually consistent): the wait goes on.
    not_found: &'a str,
    /// The element holding the state.
    state: &'a str,
    done: &'a str,
    failed: &'a [&'a str],
    /// The element holding the reason of a failure.
    message: &'a str,
}

impl Ec2 {
    /// Asks until the answer's state is `wait.done`; a `wait.failed` state
    /// or 30 minutes without an end is an `error(reason)`.
    async fn wait(
        &self,
        attempts: u32,
        wait: &Wait<'_>,
        error: impl Fn(String) -> EbsError,
    ) -> std::result::Result<(), EbsError> {
        let over = || error(format!("still not {} after 30 minutes", wait.done));
        wait_for(over, async || {
            let answer = match self
                .query(attempts, &wait.call, wait.action, &wait.params)
                .await
            {
                Err(EbsError::Refused { code, .. }) if code == wait.not_found => return Ok(None),
                other => other?,
            };
            match field(&answer, wait.state) {
                Some(state) if state == wait.done => Ok(Some(())),
                Some(state) if wait.failed.contains(&state.as_str()) => Err(error(format!(
                    "its state is {state}: {}",
                    field(&answer, wait.message).unwrap_or_default()
                ))),
                _ => Ok(None),
            }
        })
        .await
    }
}

/// Registers a machine image whose root device is `snapshot` (HVM, a gp3
/// volume of the snapshot's size deleted on termination), waits until it
/// is `available` and returns it.
///
/// # Examples
///
/// ```no_run
/// use blockimg::ebs::{register_image, upload_image, AmiBootMode, Ebs, RegisterOptions, SnapshotOptions};
///
/// # fn main() -> blockimg::Result<()> {
/// let ebs = Ebs::from_env()?;
/// let snapshot = upload_image(&ebs, "disk.img".as_ref(), &SnapshotOptions::default(), &mut blockimg::Silent)?;
/// let image = register_image(&ebs, &snapshot, &RegisterOptions::new("lfs", AmiBootMode::UefiPreferred))?;
/// println!("{}", image.id);
/// # Ok(())
/// # }
/// ```
pub fn register_image(ebs: &Ebs, snapshot: &Snapshot, options: &RegisterOptions) -> Result<Image> {
    let inner = &ebs.inner;
    let p = |key: &str, value: &str| (key.to_string(), value.to_string());
    let mut params = vec![
        p("Name", &options.name),
        p("Architecture", &options.architecture),
        p("VirtualizationType", "hvm"),
        p("BootMode", options.boot_mode.name()),
        p("EnaSupport", if options.ena { "true" } else { "false" }),
        p("RootDeviceName", &options.root_device),
        p("BlockDeviceMapping.1.DeviceName", &options.root_device),
        p("BlockDeviceMapping.1.Ebs.SnapshotId", &snapshot.id),
        p(
            "BlockDeviceMapping.1.Ebs.VolumeSize",
            &snapshot.volume_gib.to_string(),
        ),
        p("BlockDeviceMapping.1.Ebs.VolumeType", "gp3"),
        p("BlockDeviceMapping.1.Ebs.DeleteOnTermination", "true"),
    ];
    if let Some(description) = &options.description {
        params.push(p("Description", description));
    }
    if !options.tags.is_empty() {
        params.push(p("TagSpecification.1.ResourceType", "image"));
        for (i, (key, value)) in options.tags.iter().enumerate() {
            params.push(p(&format!("TagSpecification.1.Tag.{}.Key", i + 1), key));
            params.push(p(&format!("TagSpecification.1.Tag.{}.Value", i + 1), value));
        }
    }
    let call = Call::new("RegisterImage").snapshot(&snapshot.id);
    let answer = ebs.block_on(
        inner
            .ec2
            .query(inner.attempts, &call, "RegisterImage", &params),
    )?;
    let id = field(&answer, "imageId").ok_or_else(|| EbsError::Image {
        image: options.name.clone(),
        reason: "RegisterImage answered without an image id".into(),
    })?;
    let wait = Wait {
        call: Call::new("DescribeImages").image(&id),
        action: "DescribeImages",
        params: vec![p("ImageId.1", &id)],
        not_found: "InvalidAMIID.NotFound",
        state: "imageState",
        done: "available",
        failed: &["failed", "error", "invalid", "deregistered"],
        message: "message",
    };
    let error = |reason| EbsError::Image {
        image: id.clone(),
        reason,
    };
    ebs.block_on(inner.ec2.wait(inner.attempts, &wait, error))?;
    Ok(Image {
        id,
        name: options.name.clone(),
    })
}
