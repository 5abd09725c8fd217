//! `job-restore-drill`: one step of the restore drill per EventBridge event (every hour): once a
//! month it starts restoring the table into a copy; a later step checks the restored copy and
//! deletes it. A failed drill (or a restore that never finishes) is an error: the function's
//! error alarm tells the operator.

use lambda_runtime::{LambdaEvent, service_fn};
use ovation::Context;
use ovation::drill::{self, Step};
use ovation::error::{Error, Result};

/// Takes the drill's next step as of `now`.
pub async fn handle(ctx: &Context, now: i64) -> Result<Step> {
    let config = ctx.aws.as_ref().ok_or_else(|| Error::Config {
        name: "OVATION_BACKEND",
        reason: "the restore drill runs on AWS: it restores the DynamoDB table".into(),
    })?;
    let step = drill::step(ctx, config, now).await?;
    match &step {
        Step::Idle | Step::Waiting => {}
        Step::Started(started) => {
            tracing::info!(copy = %started.copy, restored_to = started.restored_to, "restore drill started")
        }
        Step::Finished(report) => tracing::info!(
            items = report.items,
            workspaces = report.workspaces,
            opened = report.opened,
            surveys = report.surveys,
            recovery_point_seconds = report.recovery_point_seconds(),
            restore_seconds = report.restore_seconds,
            "restore drill passed"
        ),
    }
    Ok(step)
}

/// `job-restore-drill` on Lambda.
pub async fn run_on_lambda() -> std::result::Result<(), lambda_runtime::Error> {
    let ctx = ovation::jobs::start().await?;
    lambda_runtime::run(service_fn(move |_: LambdaEvent<serde_json::Value>| {
        let ctx = ctx.clone();
        async move {
            let step = handle(&ctx, ovation::store::now_unix()).await?;
            let said = match step {
                Step::Idle => "idle",
                Step::Started(_) => "started",
                Step::Waiting => "waiting",
                Step::Finished(_) => "passed",
            };
            Ok::<_, lambda_runtime::Error>(serde_json::json!({ "drill": said }))
        }
    }))
    .await
}
