//! The calls to AWS: a connection made the AWS way ([`Ebs`]), every call
//! retried with backoff while the error is one retrying cures, the
//! snapshot writer and the image registration.

mod ec2;
mod writer;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_credential_types::provider::ProvideCredentials;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

pub use ec2::register_image;
pub use writer::{upload_image, SnapshotWriter};

use crate::error::{Call, EbsError, Error, Result};

/// The first retry waits about this long; each next one twice as long.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// No retry waits longer than this.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// How long a snapshot may take to become `completed`, or an image
/// `available`.
const WAIT_LIMIT: Duration = Duration::from_secs(30 * 60);

/// Error codes AWS services use for throttling and passing trouble.
const RETRIED_CODES: &[&str] = &[
    "ThrottlingException",
    "RequestThrottledException",
    "RequestLimitExceeded",
    "Throttling",
    "SlowDown",
    "InternalServerException",
    "InternalError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "Unavailable",
];

/// A connection to the EBS direct APIs and EC2 in one region, with the
/// credentials of the standard chain (environment, shared config and
/// credentials files and profiles, SSO, container and instance metadata)
/// and the endpoint `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_EBS` and
/// `AWS_ENDPOINT_URL_EC2`) names, if any. Cloning it shares it.
///
/// # Examples
///
/// ```no_run
/// use blockimg::ebs::{upload_image, Ebs, SnapshotOptions};
///
/// # fn main() -> blockimg::Result<()> {
/// let ebs = Ebs::from_env()?;
/// let snapshot = upload_image(&ebs, "disk.img".as_ref(), &SnapshotOptions::default(), &mut blockimg::Silent)?;
/// println!("{} in {}", snapshot.id, ebs.region());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Ebs {
    inner: Arc<Inner>,
}

struct Inner {
    /// Runs the calls; the library's callers are not asynchronous.
    runtime: tokio::runtime::Runtime,
    ebs: aws_sdk_ebs::Client,
    ec2: ec2::Ec2,
    region: String,
    attempts: u32,
}

impl Ebs {
    /// Connects with the standard chain's region and credentials, which
    /// must be there: a missing region or credentials that cannot be
    /// loaded are reported here, before anything is sent. Each call gets
    /// the attempts [`SnapshotOptions::default`](crate::ebs::SnapshotOptions) gives.
    pub fn from_env() -> Result<Ebs> {
        Ebs::with_attempts(crate::ebs::SnapshotOptions::default().attempts)
    }

    /// [`Ebs::from_env`], with each call attempted at most `attempts`
    /// times (at least once) while its errors are worth retrying.
    pub fn with_attempts(attempts: u32) -> Result<Ebs> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("blockimg-ebs")
            .enable_all()
            .build()
            .map_err(|e| Error::io("the EBS upload's threads", e))?;
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .operation_attempt_timeout(Duration::from_secs(120))
            .build();
        let config = runtime.block_on(
            aws_config::defaults(BehaviorVersion::latest())
                .http_client(http)
                // Retries are ours: every call, with its context in errors.
                .retry_config(RetryConfig::disabled())
                .timeout_config(timeouts)
                .load(),
        );
        let config_error = |reason: String| Error::from(EbsError::Config { reason });
        let region = config
            .region()
            .ok_or_else(|| {
                config_error(
                    "no region: set AWS_REGION (or AWS_DEFAULT_REGION), or a region in the \
                     profile of ~/.aws/config"
                        .into(),
                )
            })?
            .to_string();
        let credentials = config
            .credentials_provider()
            .ok_or_else(|| config_error("no credentials provider could be configured".into()))?;
        runtime
            .block_on(credentials.provide_credentials())
            .map_err(|e| {
                config_error(format!(
                    "no credentials: {} (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, \
                     AWS_PROFILE, or run where instance or container credentials are)",
                    DisplayErrorContext(e)
                ))
            })?;
        let ebs = aws_sdk_ebs::Client::new(&config);
        let ec2 = ec2::Ec2::new(&config, credentials.clone(), &region)?;
        Ok(Ebs {
            inner: Arc::new(Inner {
                runtime,
                ebs,
                ec2,
                region,
                attempts: attempts.max(1),
            }),
        })
    }

    /// The region the calls go to.
    pub fn region(&self) -> &str {
        &self.inner.region
    }

    /// Runs `future` to its end on the connection's threads.
    fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        self.inner.runtime.block_on(future)
    }
}

/// Makes `call` through the AWS SDK, with [`retry_with`] and the SDK's
/// errors judged by [`verdict`].
async fn retry<T, E, Fut>(
    attempts: u32,
    call: impl FnOnce() -> Call,
    send: impl FnMut() -> Fut,
) -> std::result::Result<T, EbsError>
where
    Fut: Future<Output = std::result::Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    retry_with(attempts, call, send, verdict).await
}

/// Makes `call` by running `send` until it succeeds, `judge` finds its
/// error one that retrying does not cure, or the attempts run out, waiting
/// longer after each failure (exponential backoff with jitter).
async fn retry_with<T, X, Fut>(
    attempts: u32,
    call: impl FnOnce() -> Call,
    mut send: impl FnMut() -> Fut,
    judge: impl Fn(&X) -> Verdict,
) -> std::result::Result<T, EbsError>
where
    Fut: Future<Output = std::result::Result<T, X>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let error = match send().await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        match judge(&error) {
            Verdict::Retry(_) if attempt < attempts => tokio::time::sleep(backoff(attempt)).await,
            Verdict::Retry(reason) | Verdict::Fail(reason) => {
                return Err(EbsError::Failed {
                    call: Box::new(call()),
                    attempts: attempt,
                    reason,
                })
            }
            Verdict::Refused {
                status,
                code,
                message,
            } => {
                return Err(EbsError::Refused {
                    call: Box::new(call()),
                    status,
                    code,
                    message,
                })
            }
        }
    }
}

/// What to do about a failed call.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Try again: throttling, a server error, a dropped connection.
    Retry(String),
    /// The server refused it for good.
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// It could not be sent at all.
    Fail(String),
}

fn verdict<E>(error: &SdkError<E, HttpResponse>) -> Verdict
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match error {
        SdkError::ServiceError(context) => {
            let status = context.raw().status().as_u16();
            let code = context
                .err()
                .code()
                .unwrap_or("(no error code)")
                .to_string();
            let message = context.err().message().unwrap_or("").to_string();
            service_verdict(status, code, message)
        }
        SdkError::ConstructionFailure(_) => Verdict::Fail(DisplayErrorContext(error).to_string()),
        SdkError::DispatchFailure(failure) if failure.is_user() => {
            Verdict::Fail(DisplayErrorContext(error).to_string())
        }
        // Timeouts, connections refused or dropped, responses cut short.
        _ => Verdict::Retry(DisplayErrorContext(error).to_string()),
    }
}

/// The verdict on an error response with `status` and error `code`.
fn service_verdict(status: u16, code: String, message: String) -> Verdict {
    if status >= 500 || status == 429 || RETRIED_CODES.contains(&code.as_str()) {
        Verdict::Retry(format!("HTTP {status} {code}: {message}"))
    } else {
        Verdict::Refused {
            status,
            code,
            message,
        }
    }
}

/// The wait before attempt `attempt + 1`: half to all of
/// `FIRST_BACKOFF * 2^(attempt-1)`, at most `MAX_BACKOFF`.
fn backoff(attempt: u32) -> Duration {
    let full = FIRST_BACKOFF
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF);
    let jitter = getrandom::u32().unwrap_or(u32::MAX / 2);
    full / 2 + full.mul_f64(f64::from(jitter) / f64::from(u32::MAX) / 2.0)
}

/// Polls `state` (growing pauses, from 200 ms up to 5 s) until it says
/// the wait is over (`Some`), or `WAIT_LIMIT` passes.
async fn wait_for<T>(
    what: impl FnOnce() -> EbsError,
    mut state: impl AsyncFnMut() -> std::result::Result<Option<T>, EbsError>,
) -> std::result::Result<T, EbsError> {
    let started = tokio::time::Instant::now();
    let mut pause = Duration::from_millis(200);
    loop {
        if let Some(done) = state().await? {
            return Ok(done);
        }
        if started.elapsed() > WAIT_LIMIT {
            return Err(what());
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 3 / 2).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_server_errors_are_retried_the_rest_refused() {
        let v = |status, code: &str| service_verdict(status, code.into(), "m".into());
        assert!(matches!(v(400, "ThrottlingException"), Verdict::Retry(_)));
        assert!(matches!(v(503, "RequestLimitExceeded"), Verdict::Retry(_)));
        assert!(matches!(
            v(500, "InternalServerException"),
            Verdict::Retry(_)
        ));
        assert!(matches!(v(502, "(no error code)"), Verdict::Retry(_)));
        assert!(matches!(
            v(400, "ValidationException"),
            Verdict::Refused { status: 400, .. }
        ));
        assert!(matches!(
            v(403, "UnrecognizedClientException"),
            Verdict::Refused { .. }
        ));
    }

    #[test]
    fn backoff_doubles_up_to_its_limit() {
        for attempt in 1..30 {
            let full = FIRST_BACKOFF * (1 << (attempt - 1).min(16));
            let wait = backoff(attempt);
            assert!(wait >= full.min(MAX_BACKOFF) / 2 && wait <= full.min(MAX_BACKOFF));
        }
    }
}
