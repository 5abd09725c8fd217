//! The operator's commands: `tenant create`, `tenant delete`, `api-key create`, `operator-key`.
//! Each prints only its secret on stdout, for scripts. On the embedded store they work whether or
//! not `ovation serve` runs on the same data directory: the server holds the store's lock, so a
//! running server is asked through its platform API (address and a per-run operator key in
//! `admin.json`, readable by the owner only); otherwise the store is opened directly. Both ways
//! run the same service.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand};
use ovation::auth::credential;
use ovation::config::Backend;
use ovation::domain::Slug;
use ovation::http::gate::OPERATOR_PREFIX;
use ovation::services::accounts::credentials::{self, NewCredential};
use ovation::services::lifecycle::tenants::{self, NewTenant};
use ovation::{Context, Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::commands::backend::BackendArgs;

#[derive(Subcommand)]
pub enum TenantCommand {
    /// Create a tenant and its owner; prints the owner's one-time password.
    Create {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        owner_email: String,
        /// Display name [default: the slug].
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        backend: BackendArgs,
    },
    /// Delete a tenant: its keys are crypto-shredded at once, its items purged later.
    Delete {
        #[arg(long)]
        slug: String,
        #[command(flatten)]
        backend: BackendArgs,
    },
}

#[derive(Subcommand)]
pub enum ApiKeyCommand {
    /// Create an API key in a tenant; prints the key.
    Create {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        #[arg(long, value_parser = ["read", "write", "admin"])]
        scope: String,
        #[arg(long, default_value = "created by the operator")]
        name: String,
        #[command(flatten)]
        backend: BackendArgs,
    },
}

#[derive(Args)]
pub struct OperatorKeyArgs {}

/// The file through which a running server takes operator commands.
pub const ADMIN_FILE: &str = "admin.json";

#[derive(Serialize, Deserialize)]
pub struct AdminChannel {
    pub url: String,
    pub operator_key: String,
}

impl AdminChannel {
    /// Writes the channel file, readable by the owner only.
    pub fn write(&self, data_dir: &Path) -> Result<PathBuf> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = data_dir.join(ADMIN_FILE);
        let _ = std::fs::remove_file(&path);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(Error::internal)?;
        file.write_all(&serde_json::to_vec(self).map_err(Error::internal)?)
            .map_err(Error::internal)?;
        Ok(path)
    }
}

/// A new operator key (`ovo_` and 256 random bits).
pub fn new_operator_key() -> Result<String> {
    Ok(format!("{OPERATOR_PREFIX}{}", credential::random_text()?))
}

/// Where an operator command runs: in this process on the store, or on the running server.
enum Target {
    Store(Arc<Context>),
    Server(AdminChannel),
}

async fn target(backend: &BackendArgs) -> Result<Target> {
    let settings = backend.settings()?;
    if let Some(channel) = running_server(&settings).await {
        return Ok(Target::Server(channel));
    }
    Ok(Target::Store(Context::from_settings(settings).await?))
}

/// The `ovation serve` that has the data directory open, when one answers.
pub async fn running_server(settings: &ovation::config::Settings) -> Option<AdminChannel> {
    let Backend::Embedded { data_dir } = &settings.backend else {
        return None;
    };
    let text = std::fs::read(data_dir.join(ADMIN_FILE)).ok()?;
    let channel = serde_json::from_slice::<AdminChannel>(&text).ok()?;
    reqwest::get(format!("{}/health", channel.url)).await.ok()?;
    Some(channel)
}

/// Calls the running server (its platform API, or its local routes); an error answer becomes
/// its message.
pub async fn call(channel: &AdminChannel, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value> {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", channel.url))
        .bearer_auth(&channel.operator_key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.map_err(|e| Error::Unavailable {
        service: "ovation serve",
        reason: e.to_string(),
    })?;
    let status = response.status();
    let text = response.text().await.map_err(Error::internal)?;
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(Error::internal(format!(
            "the server refused: {}",
            value["message"].as_str().unwrap_or(&text)
        )));
    }
    Ok(value)
}

fn field(value: &Value, name: &str) -> Result<String> {
    value[name]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| Error::internal(format!("the server's answer has no {name}")))
}

pub async fn tenant(command: TenantCommand) -> Result<()> {
    match command {
        TenantCommand::Create {
            slug,
            owner_email,
            name,
            backend,
        } => {
            let request = NewTenant {
                slug,
                owner_email,
                display_name: name,
            };
            let password = match target(&backend).await? {
                Target::Store(ctx) => tenants::create(&ctx, request).await?.one_time_password,
                Target::Server(channel) => {
                    let body = json!({"slug": request.slug, "owner_email": request.owner_email, "display_name": request.display_name});
                    field(
                        &call(&channel, reqwest::Method::POST, "/v1/platform/tenants", Some(body)).await?,
                        "one_time_password",
                    )?
                }
            };
            println!("{password}");
        }
        TenantCommand::Delete { slug, backend } => match target(&backend).await? {
            Target::Store(ctx) => {
                tenants::delete(&ctx, &Slug::parse(&slug)?).await?;
            }
            Target::Server(channel) => {
                let slug = Slug::parse(&slug)?;
                call(
                    &channel,
                    reqwest::Method::DELETE,
                    &format!("/v1/platform/tenants/{slug}"),
                    None,
                )
                .await?;
            }
        },
    }
    Ok(())
}

pub async fn api_key(command: ApiKeyCommand) -> Result<()> {
    let ApiKeyCommand::Create {
        tenant,
        scope,
        name,
        backend,
    } = command;
    let slug = Slug::parse(&tenant)?;
    let key = match target(&backend).await? {
        Target::Store(ctx) => {
            let request = NewCredential {
                name,
                scope: ovation::auth::Scope::parse(&scope)?,
            };
            credentials::create_for_operator(&ctx, &slug, request).await?.key
        }
        Target::Server(channel) => {
            let body = json!({"name": name, "scope": scope});
            let path = format!("/v1/platform/tenants/{slug}/api_keys");
            field(&call(&channel, reqwest::Method::POST, &path, Some(body)).await?, "key")?
        }
    };
    println!("{key}");
    Ok(())
}

/// Prints a new operator key on stdout and the setting that admits it on stderr.
pub fn operator_key(_: OperatorKeyArgs) -> Result<()> {
    let key = new_operator_key()?;
    println!("{key}");
    eprintln!(
        "OVATION_OPERATOR_KEY_SHA256={}",
        credential::hex(&credential::sha256(&key))
    );
    Ok(())
}
