//! Settings: read once from the environment at start-up; they choose the adapters (embedded or
//! AWS) and bound the key cache. A bad value is an error that names the variable.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

/// Where data lives and who guards the keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// One redb file and a local master key file in `data_dir`.
    Embedded { data_dir: PathBuf },
    /// A DynamoDB table and a KMS key (real AWS, or an emulator through `AWS_ENDPOINT_URL`).
    Aws { table: String, kms_key_id: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object a line (CloudWatch Logs Insights).
    Json,
    /// Readable lines for a terminal.
    Text,
}

/// How long an unwrapped tenant data key may stay in memory, and for how many uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyCache {
    pub max_age: Duration,
    pub max_uses: u64,
}

impl Default for KeyCache {
    fn default() -> Self {
        KeyCache {
            max_age: Duration::from_secs(300),
            max_uses: 1_000_000,
        }
    }
}

/// Requests one client address may make: `burst` at once, refilled at `per_second`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: u32,
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            per_second: 20,
            burst: 40,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub backend: Backend,
    pub key_cache: KeyCache,
    pub log_format: LogFormat,
    pub rate_per_ip: RateLimit,
    /// Requests one client address may make to the sign-in and token endpoints.
    pub login_rate_per_ip: RateLimit,
    /// Requests one tenant may make a minute, across every instance.
    pub rate_per_tenant_minute: u32,
    /// Requests one client address may make to the website surveys' routes.
    pub site_rate_per_ip: RateLimit,
    /// Requests the visitors of one site key may make a minute, across every instance.
    pub rate_per_site_key_minute: u32,
    /// How long a tenant's settings (IP allow-list, status) may be served from memory.
    pub tenant_cache: Duration,
    /// SHA-256 of each operator key that opens the platform API (more than one while rotating);
    /// none disables it.
    pub operator_keys: Vec<[u8; 32]>,
    /// Web origins allowed to call the API from a browser (CORS); none by default.
    pub cors_origins: Vec<String>,
    /// The base URL of respondent links and of `Link` headers (`https://survey.example.com`);
    /// none to take it from each request (API Gateway's domain and stage, or the Host header).
    pub public_url: Option<String>,
    pub sending: SendingSettings,
    pub webhooks: WebhookSettings,
    pub exports: ExportSettings,
    /// The DNS servers email domains are verified with (`ip:port`); none: the system's
    /// (`/etc/resolv.conf`: on Lambda, the VPC's or AWS's resolver).
    pub dns_servers: Vec<std::net::SocketAddr>,
}

/// Where large exports run and are kept.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ExportSettings {
    /// aws: the export job's SQS queue.
    pub queue_url: Option<String>,
    /// aws: the S3 bucket finished exports are kept in.
    pub bucket: Option<String>,
}

/// How webhook events go out.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct WebhookSettings {
    /// aws: the webhook deliverer's SQS queue.
    pub queue_url: Option<String>,
    /// Local development only: endpoints may be `http://` on a loopback address (a receiver on
    /// this machine). Every other private, loopback or link-local address stays refused.
    pub allow_loopback: bool,
}

/// How surveys go out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendingSettings {
    /// The verified address surveys are sent from (the survey's sender name goes with it).
    pub mail_from: String,
    /// The mailbox of `List-Unsubscribe`'s mailto, beside the one-click URL.
    pub unsubscribe_mailto: Option<String>,
    /// aws: the deliverer's SQS queue.
    pub queue_url: Option<String>,
    /// aws: the SES configuration set that publishes delivery events.
    pub configuration_set: Option<String>,
    /// aws: the SNS topic SES publishes delivery events to; events from any other are refused.
    pub mail_events_topic: Option<String>,
    /// The sender id of SMS, where the destination allows one.
    pub sms_sender_id: Option<String>,
    /// Sends a second per process (the SES quota shared by the deliverer's instances); 0 for no
    /// limit.
    pub rate_per_second: u32,
    /// Invitations one scheduler run enqueues at the most (the rest go next run).
    pub scheduler_batch: u32,
    /// Deliverer processes sending at `rate_per_second` each (the template's maximum
    /// concurrency): with a rate, a scheduler run enqueues no more than they send in a minute.
    pub deliverers: u32,
}

impl SendingSettings {
    /// What one scheduler run (a minute apart) enqueues at the most: its batch, and with a send
    /// rate no more than the deliverers send in a minute, so nothing waits in the queue long
    /// enough to count as lost.
    pub fn scheduler_budget(&self) -> usize {
        let batch = self.scheduler_batch as usize;
        match self.rate_per_second {
            0 => batch,
            rate => batch.min(rate as usize * 60 * self.deliverers.max(1) as usize),
        }
    }
}

pub const DEFAULT_DATA_DIR: &str = ".ovation";

impl Settings {
    /// The defaults, with the embedded store in `data_dir` (tests, benchmarks).
    pub fn local(data_dir: PathBuf) -> Settings {
        let mut settings = Settings::from_lookup(|_| None).expect("the defaults are valid");
        settings.backend = Backend::Embedded { data_dir };
        settings
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Settings> {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    ///
    /// | variable | meaning | default |
    /// |---|---|---|
    /// | `OVATION_BACKEND` | `embedded` or `aws` | `aws` on Lambda, else `embedded` |
    /// | `OVATION_DATA_DIR` | embedded: the data directory | `.ovation` |
    /// | `OVATION_TABLE` | aws: the DynamoDB table | required |
    /// | `OVATION_KMS_KEY_ID` | aws: the KMS key id, ARN or alias | required |
    /// | `OVATION_KEY_CACHE_SECONDS` | lifetime of an unwrapped data key | 300 |
    /// | `OVATION_KEY_CACHE_USES` | uses of an unwrapped data key before it is fetched again | 1000000 |
    /// | `OVATION_LOG_FORMAT` | `json` or `text` | `json` on Lambda, else `text` |
    /// | `OVATION_RATE_PER_IP` | requests a second one client address may make | 20 |
    /// | `OVATION_BURST_PER_IP` | requests one client address may make at once | 40 |
    /// | `OVATION_LOGIN_RATE_PER_IP` | sign-in and token requests a second one client address may make | 1 |
    /// | `OVATION_LOGIN_BURST_PER_IP` | sign-in and token requests one client address may make at once | 10 |
    /// | `OVATION_RATE_PER_TENANT_MINUTE` | requests a minute one tenant may make, across all instances | 6000 |
    /// | `OVATION_TENANT_CACHE_SECONDS` | how long a tenant's settings are served from memory | 5 |
    /// | `OVATION_OPERATOR_KEY_SHA256` | hex SHA-256 of the operator key (comma-separated while rotating) | none: platform API off |
    /// | `OVATION_PUBLIC_URL` | the base URL of survey links (`https://survey.example.com/prod`) | from the request |
    /// | `OVATION_CORS_ORIGINS` | comma-separated origins browsers may call from (`https://app.example.com`) | none |
    /// | `OVATION_SENDER_ADDRESS` | the verified address surveys are sent from | `surveys@ovation.localhost` |
    /// | `OVATION_UNSUBSCRIBE_MAILTO` | the mailbox of `List-Unsubscribe`'s mailto | none (one-click URL only) |
    /// | `OVATION_QUEUE_URL` | aws: the deliverer's SQS queue URL | required by the scheduler |
    /// | `OVATION_SES_CONFIGURATION_SET` | aws: SES configuration set for delivery events | none |
    /// | `OVATION_SMS_SENDER_ID` | SMS sender id (1-11 letters and digits) | none |
    /// | `OVATION_SEND_RATE_PER_SECOND` | sends a second per process (SES quota); 0: no limit | 0 |
    /// | `OVATION_SCHEDULER_BATCH` | invitations one scheduler run enqueues at the most | 5000 |
    /// | `OVATION_EXPORT_QUEUE_URL` | aws: the export job's SQS queue URL | required for large exports |
    /// | `OVATION_EXPORTS_BUCKET` | aws: the S3 bucket finished exports are kept in | required for large exports |
    /// | `OVATION_WEBHOOK_QUEUE_URL` | aws: the webhook deliverer's SQS queue URL | required by the scheduler for webhooks |
    /// | `OVATION_WEBHOOKS_ALLOW_LOOPBACK` | `true`: webhook endpoints may be `http://` on a loopback address (local development only) | false |
    /// | `OVATION_DNS_SERVERS` | comma-separated `ip` or `ip:port` of the DNS servers email domains are verified with | the system's |
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let on_lambda = get("AWS_LAMBDA_FUNCTION_NAME").is_some();
        let backend = match get("OVATION_BACKEND").as_deref() {
            Some("embedded") => None,
            Some("aws") => Some(true),
            None => Some(on_lambda).filter(|aws| *aws),
            Some(_) => {
                return Err(Error::Config {
                    name: "OVATION_BACKEND",
                    reason: "must be `embedded` or `aws`".into(),
                });
            }
        };
        let backend = if backend.is_some() {
            let required = |name: &'static str| {
                get(name).ok_or(Error::Config {
                    name,
                    reason: "is required when OVATION_BACKEND=aws".into(),
                })
            };
            Backend::Aws {
                table: required("OVATION_TABLE")?,
                kms_key_id: required("OVATION_KMS_KEY_ID")?,
            }
        } else {
            Backend::Embedded {
                data_dir: get("OVATION_DATA_DIR")
                    .unwrap_or_else(|| DEFAULT_DATA_DIR.into())
                    .into(),
            }
        };
        let defaults = KeyCache::default();
        let key_cache = KeyCache {
            max_age: Duration::from_secs(positive(
                "OVATION_KEY_CACHE_SECONDS",
                get("OVATION_KEY_CACHE_SECONDS"),
                defaults.max_age.as_secs(),
            )?),
            max_uses: positive(
                "OVATION_KEY_CACHE_USES",
                get("OVATION_KEY_CACHE_USES"),
                defaults.max_uses,
            )?,
        };
        let log_format = match get("OVATION_LOG_FORMAT").as_deref() {
            Some("json") => LogFormat::Json,
            Some("text") => LogFormat::Text,
            None if on_lambda => LogFormat::Json,
            None => LogFormat::Text,
            Some(_) => {
                return Err(Error::Config {
                    name: "OVATION_LOG_FORMAT",
                    reason: "must be `json` or `text`".into(),
                });
            }
        };
        let rate_defaults = RateLimit::default();
        let count = |name: &'static str, default: u32| -> Result<u32> {
            u32::try_from(positive(name, get(name), default.into())?).map_err(|_| Error::Config {
                name,
                reason: format!("must be at most {}", u32::MAX),
            })
        };
        let rate_per_ip = RateLimit {
            per_second: count("OVATION_RATE_PER_IP", rate_defaults.per_second)?,
            burst: count("OVATION_BURST_PER_IP", rate_defaults.burst)?,
        };
        let login_rate_per_ip = RateLimit {
            per_second: count("OVATION_LOGIN_RATE_PER_IP", 1)?,
            burst: count("OVATION_LOGIN_BURST_PER_IP", 10)?,
        };
        let rate_per_tenant_minute = count("OVATION_RATE_PER_TENANT_MINUTE", 6000)?;
        let site_rate_per_ip = RateLimit {
            per_second: count("OVATION_SITE_RATE_PER_IP", 2)?,
            burst: count("OVATION_SITE_BURST_PER_IP", 30)?,
        };
        let rate_per_site_key_minute = count("OVATION_RATE_PER_SITE_KEY_MINUTE", 6000)?;
        let tenant_cache = Duration::from_secs(positive(
            "OVATION_TENANT_CACHE_SECONDS",
            get("OVATION_TENANT_CACHE_SECONDS"),
            5,
        )?);
        let operator_keys = get("OVATION_OPERATOR_KEY_SHA256")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(|hex| {
                crate::auth::credential::parse_sha256_hex(hex).ok_or(Error::Config {
                    name: "OVATION_OPERATOR_KEY_SHA256",
                    reason: "must be 64 hexadecimal digits (the SHA-256 of the operator key)".into(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let cors_origins = get("OVATION_CORS_ORIGINS")
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|o| !o.is_empty())
                    .map(origin)
                    .collect()
            })
            .transpose()?
            .unwrap_or_default();
        let public_url = get("OVATION_PUBLIC_URL")
            .map(|url| {
                let url = url.trim().trim_end_matches('/').to_owned();
                let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
                if scheme_ok && !url.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"') {
                    Ok(url)
                } else {
                    Err(Error::Config {
                        name: "OVATION_PUBLIC_URL",
                        reason: "must be an http(s):// URL without spaces".into(),
                    })
                }
            })
            .transpose()?;
        let mailbox = |name: &'static str, value: Option<String>| {
            value
                .map(|v| {
                    crate::domain::Email::parse(&v)
                        .map(|e| e.as_str().to_owned())
                        .map_err(|_| Error::Config {
                            name,
                            reason: "must be an email address".into(),
                        })
                })
                .transpose()
        };
        let sms_sender_id = get("OVATION_SMS_SENDER_ID")
            .map(|id| {
                let valid = (1..=11).contains(&id.len())
                    && id.chars().all(|c| c.is_ascii_alphanumeric())
                    && id.chars().any(|c| c.is_ascii_alphabetic());
                valid.then_some(id).ok_or(Error::Config {
                    name: "OVATION_SMS_SENDER_ID",
                    reason: "must be 1 to 11 letters and digits, at least one letter".into(),
                })
            })
            .transpose()?;
        let sending = SendingSettings {
            mail_from: mailbox("OVATION_SENDER_ADDRESS", get("OVATION_SENDER_ADDRESS"))?
                .unwrap_or_else(|| "surveys@ovation.localhost".into()),
            unsubscribe_mailto: mailbox("OVATION_UNSUBSCRIBE_MAILTO", get("OVATION_UNSUBSCRIBE_MAILTO"))?,
            queue_url: get("OVATION_QUEUE_URL"),
            configuration_set: get("OVATION_SES_CONFIGURATION_SET"),
            mail_events_topic: get("OVATION_MAIL_EVENTS_TOPIC_ARN"),
            sms_sender_id,
            rate_per_second: match get("OVATION_SEND_RATE_PER_SECOND").as_deref() {
                Some("0") | None => 0,
                Some(_) => count("OVATION_SEND_RATE_PER_SECOND", 0)?,
            },
            scheduler_batch: count("OVATION_SCHEDULER_BATCH", 5000)?,
            deliverers: count("OVATION_DELIVERERS", 1)?,
        };
        let webhooks = WebhookSettings {
            queue_url: get("OVATION_WEBHOOK_QUEUE_URL"),
            allow_loopback: match get("OVATION_WEBHOOKS_ALLOW_LOOPBACK").as_deref() {
                None | Some("false") => false,
                Some("true") if on_lambda => {
                    return Err(Error::Config {
                        name: "OVATION_WEBHOOKS_ALLOW_LOOPBACK",
                        reason: "is for local development; on Lambda, loopback is the runtime's own API".into(),
                    });
                }
                Some("true") => true,
                Some(_) => {
                    return Err(Error::Config {
                        name: "OVATION_WEBHOOKS_ALLOW_LOOPBACK",
                        reason: "must be `true` or `false`".into(),
                    });
                }
            },
        };
        let exports = ExportSettings {
            queue_url: get("OVATION_EXPORT_QUEUE_URL"),
            bucket: get("OVATION_EXPORTS_BUCKET"),
        };
        let dns_servers = get("OVATION_DNS_SERVERS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|server| {
                server
                    .parse::<std::net::SocketAddr>()
                    .or_else(|_| server.parse::<std::net::IpAddr>().map(|ip| (ip, 53).into()))
                    .map_err(|_| Error::Config {
                        name: "OVATION_DNS_SERVERS",
                        reason: format!("{server:?} is not an address such as 10.0.0.2 or 127.0.0.1:5353"),
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Settings {
            backend,
            sending,
            webhooks,
            exports,
            public_url,
            key_cache,
            log_format,
            rate_per_ip,
            login_rate_per_ip,
            rate_per_tenant_minute,
            site_rate_per_ip,
            rate_per_site_key_minute,
            tenant_cache,
            operator_keys,
            cors_origins,
            dns_servers,
        })
    }
}

/// An origin as browsers send it: `https://host[:port]`, or `http://` for localhost only; no
/// path, no wildcard.
fn origin(text: &str) -> Result<String> {
    let bad = |reason: &str| Error::Config {
        name: "OVATION_CORS_ORIGINS",
        reason: format!("{text:?} {reason}"),
    };
    let host = match (text.strip_prefix("https://"), text.strip_prefix("http://")) {
        (Some(host), _) => host,
        (None, Some(host)) if host.starts_with("localhost") || host.starts_with("127.0.0.1") => host,
        _ => return Err(bad("must start with https:// (http:// only for localhost)")),
    };
    let valid = !host.is_empty()
        && host.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
        && !host.starts_with([':', '.']);
    if !valid {
        return Err(bad("must be scheme://host[:port], without path or wildcard"));
    }
    Ok(text.to_ascii_lowercase())
}

fn positive(name: &'static str, value: Option<String>, default: u64) -> Result<u64> {
    match value {
        None => Ok(default),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(Error::Config {
                name,
                reason: format!("must be a whole number above 0, not {v:?}"),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn embedded_is_the_default_off_lambda() {
        let s = settings(&[]).unwrap();
        assert_eq!(
            s.backend,
            Backend::Embedded {
                data_dir: ".ovation".into()
            }
        );
        assert_eq!(s.log_format, LogFormat::Text);
        assert_eq!(s.key_cache, KeyCache::default());
        assert_eq!(
            s.rate_per_ip,
            RateLimit {
                per_second: 20,
                burst: 40
            }
        );
    }

    #[test]
    fn lambda_defaults_to_aws_and_json_and_requires_table_and_key() {
        let err = settings(&[("AWS_LAMBDA_FUNCTION_NAME", "api-admin")]).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Config {
                    name: "OVATION_TABLE",
                    ..
                }
            ),
            "{err}"
        );
        let s = settings(&[
            ("AWS_LAMBDA_FUNCTION_NAME", "api-admin"),
            ("OVATION_TABLE", "t"),
            ("OVATION_KMS_KEY_ID", "alias/k"),
        ])
        .unwrap();
        assert_eq!(
            s.backend,
            Backend::Aws {
                table: "t".into(),
                kms_key_id: "alias/k".into()
            }
        );
        assert_eq!(s.log_format, LogFormat::Json);
    }

    #[test]
    fn cors_origins_are_exact_origins() {
        let s = settings(&[(
            "OVATION_CORS_ORIGINS",
            "https://App.Example.com, http://localhost:5173,",
        )])
        .unwrap();
        assert_eq!(s.cors_origins, ["https://app.example.com", "http://localhost:5173"]);
        assert!(settings(&[]).unwrap().cors_origins.is_empty());
    }

    #[test]
    fn dns_servers_take_a_port_or_53() {
        let s = settings(&[("OVATION_DNS_SERVERS", "10.0.0.2, 127.0.0.1:5353,")]).unwrap();
        let servers: Vec<String> = s.dns_servers.iter().map(ToString::to_string).collect();
        assert_eq!(servers, ["10.0.0.2:53", "127.0.0.1:5353"]);
        assert!(settings(&[]).unwrap().dns_servers.is_empty());
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (name, value) in [
            ("OVATION_BACKEND", "postgres"),
            ("OVATION_KEY_CACHE_SECONDS", "0"),
            ("OVATION_KEY_CACHE_USES", "many"),
            ("OVATION_LOG_FORMAT", "xml"),
            ("OVATION_RATE_PER_IP", "0"),
            ("OVATION_BURST_PER_IP", "99999999999"),
            ("OVATION_CORS_ORIGINS", "*"),
            ("OVATION_OPERATOR_KEY_SHA256", "abc"),
            ("OVATION_RATE_PER_TENANT_MINUTE", "-1"),
            ("OVATION_TENANT_CACHE_SECONDS", "0"),
            ("OVATION_CORS_ORIGINS", "http://evil.example.com"),
            ("OVATION_CORS_ORIGINS", "https://app.example.com/path"),
            ("OVATION_DNS_SERVERS", "dns.example.com"),
        ] {
            match settings(&[(name, value)]) {
                Err(Error::Config { name: got, .. }) => assert_eq!(got, name),
                other => panic!("{name}={value}: {other:?}"),
            }
        }
    }
}
