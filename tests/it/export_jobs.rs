//! Large exports as jobs on every engine: asked for over the API (202), queued, run by the export
//! job's handler, kept (S3 on moto, the data directory locally) and downloaded through the link
//! the job shows; a repeated message changes nothing; the tenant export job is the owner's only.

use std::sync::Arc;

use serde_json::json;

use ovation::files::Download;

use crate::api::{Auth, OPERATOR_KEY, Stack};
use crate::support::{Engines, TestQueue};

on_every_engine!(large_exports_run_as_jobs_and_download, a_folder_is_removed_page_by_page);

/// On AWS each export adapter needs its own setting only, and says which one is missing (the CLI
/// deleting a tenant needs the queue, not the bucket).
#[test]
fn missing_export_settings_are_named() {
    let engines = Engines::embedded();
    let mut settings = engines.context(ovation::config::KeyCache::default()).settings.clone();
    settings.backend = ovation::config::Backend::Aws {
        table: "ovation".into(),
        kms_key_id: "alias/ovation".into(),
    };
    let named = |ctx: &ovation::Context| {
        let name = |e: Option<ovation::Error>| match e {
            Some(ovation::Error::Config { name, .. }) => name,
            other => panic!("{other:?}"),
        };
        (name(ctx.export_queue().err()), name(ctx.export_files().err()))
    };
    let ctx = ovation::Context::with_adapters(settings.clone(), engines.store.clone(), engines.keyring.clone());
    assert_eq!(named(&ctx), ("OVATION_EXPORT_QUEUE_URL", "OVATION_EXPORTS_BUCKET"));
    settings.exports.bucket = Some("exports".into());
    let ctx = ovation::Context::with_adapters(settings, engines.store.clone(), engines.keyring.clone());
    assert_eq!(named(&ctx), ("OVATION_EXPORT_QUEUE_URL", "AWS configuration"));
}

/// Export files on moto's S3, in a new bucket, and their presigned links.
async fn s3_files(
    config: &aws_config::SdkConfig,
) -> (
    Arc<ovation::files::s3::S3Files>,
    Arc<ovation::files::presigned::PresignedDownloads>,
) {
    let name = format!("exports-{}", ovation::ids::new_id().to_lowercase());
    let s3_config = aws_sdk_s3::config::Builder::from(config).force_path_style(true).build();
    let s3 = aws_sdk_s3::Client::from_conf(s3_config);
    s3.create_bucket()
        .bucket(&name)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let downloads = ovation::files::presigned::PresignedDownloads::new(config.clone(), name.clone());
    (
        Arc::new(ovation::files::s3::S3Files::new(s3, name)),
        Arc::new(downloads),
    )
}

/// A tenant's folder goes whole (more files than one listing page holds); others stay.
async fn a_folder_is_removed_page_by_page(e: Engines) {
    let ctx = e.context(ovation::config::KeyCache::default());
    let (files, downloads): (Arc<dyn ovation::files::Files>, Arc<dyn ovation::files::Downloads>) = match &e.aws {
        Some(config) => {
            let (files, downloads) = s3_files(config).await;
            (files, downloads)
        }
        None => (
            ctx.export_files().unwrap().clone(),
            ctx.export_downloads().unwrap().clone(),
        ),
    };
    let source = e.dir.path().join("file.csv");
    std::fs::write(&source, "score\n9\n").unwrap();
    for i in 0..1001 {
        files.put(&format!("gone/{i}.csv"), &source, "text/csv").await.unwrap();
    }
    files.put("kept/1.csv", &source, "text/csv").await.unwrap();
    assert_eq!(files.remove_folder("gone").await.unwrap(), 1001);
    assert_eq!(files.remove_folder("gone").await.unwrap(), 0);
    // A name climbing out of the folder removes nothing (S3 keys have no parent).
    let climbed = files.remove_folder("../kept").await;
    assert!(
        matches!(climbed, Err(ovation::Error::NotFound(_)) | Ok(0)),
        "{climbed:?}"
    );
    let gone = downloads.download("gone/1000.csv", 60).await;
    let kept = downloads.download("kept/1.csv", 60).await.unwrap();
    match (gone, kept) {
        (Ok(Download::Url(gone)), Download::Url(kept)) => {
            assert_eq!(reqwest::get(&gone).await.unwrap().status(), 404);
            assert_eq!(reqwest::get(&kept).await.unwrap().text().await.unwrap(), "score\n9\n");
        }
        (Err(ovation::Error::NotFound(_)), Download::Local(kept)) => {
            assert_eq!(std::fs::read_to_string(kept).unwrap(), "score\n9\n");
        }
        other => panic!("{other:?}"),
    }
}

async fn large_exports_run_as_jobs_and_download(e: Engines) {
    let aws = e.aws.clone();
    let s = Stack::start(e, |settings| {
        settings.public_url = Some("http://api.example.test".into());
    })
    .await;
    let taker = TestQueue::new(
        s.ctx.store.clone(),
        aws.as_ref(),
        ovation::messaging::local_queue::EXPORTS,
    )
    .await;
    if let Some(config) = &aws {
        let (files, downloads) = s3_files(config).await;
        assert!(s.ctx.use_exports(taker.port(), files, downloads));
    }
    let owner = s.tenant("big").await;
    let (key, _) = s.api_key(&owner, "admin").await;
    for (i, email) in ["ann@example.com", "bob@example.com", "cat@example.com"]
        .iter()
        .enumerate()
    {
        let person = s
            .send("POST", "/v1/people", &key, json!({"email": email, "send": false}))
            .await
            .str("id");
        let answer = s
            .send(
                "POST",
                "/v1/survey_responses",
                &key,
                json!({"person": person, "score": 8 + i}),
            )
            .await;
        assert_eq!(answer.status, 201, "{answer:?}");
    }

    // Asked for: 202 and a job to poll.
    let asked = s
        .send("POST", "/v1/exports/responses?format=csv", &key, json!({}))
        .await;
    assert_eq!(asked.status, 202, "{asked:?}");
    assert_eq!(asked.str("status"), "queued");
    let id = asked.str("id");
    let refused = s
        .send("POST", "/v1/exports/responses?format=pdf", &key, json!({}))
        .await;
    assert_eq!(
        (refused.status, refused.str("field")),
        (422, "format".into()),
        "{refused:?}"
    );

    // The job runs once; a repeat of its message changes nothing.
    let taken = taker.take().await;
    assert_eq!(taken.len(), 1, "{taken:?}");
    let event = ovation::jobs::sqs_event(&taken).unwrap();
    let answer = job_exports::handle(&s.ctx, event.clone()).await;
    assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    let done = s.get(&format!("/v1/exports/{id}"), &key).await;
    assert_eq!((done.status, done.str("status")), (200, "done".into()), "{done:?}");
    assert_eq!(done.body["rows"], 3, "{done:?}");
    let finished_at = done.body["finished_at"].clone();
    assert!(job_exports::handle(&s.ctx, event).await.batch_item_failures.is_empty());
    let again = s.get(&format!("/v1/exports/{id}"), &key).await;
    assert_eq!(again.body["finished_at"], finished_at);

    // Downloaded through the link the job shows.
    let link = done.str("download_url");
    let csv = match &aws {
        None => {
            assert_eq!(link, format!("http://api.example.test/v1/exports/{id}/file"));
            let file = s.get(&format!("/v1/exports/{id}/file"), &key).await;
            assert_eq!(file.status, 200, "{file:?}");
            file.text
        }
        Some(_) => {
            assert!(link.contains("X-Amz-Signature="), "a presigned URL: {link}");
            let presigned = reqwest::get(&link).await.unwrap().text().await.unwrap();
            // The API's own file route redirects to a fresh presigned URL (the client follows).
            let file = s.get(&format!("/v1/exports/{id}/file"), &key).await;
            assert_eq!((file.status, &file.text), (200, &presigned), "{file:?}");
            presigned
        }
    };
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 4, "a header and 3 rows: {csv}");
    assert!(csv.contains("ann@example.com"));

    let audited = s.get("/v1/audit_events?action=responses.exported", &owner.token).await;
    let events = audited.body.as_array().unwrap();
    assert_eq!(events.len(), 1, "{audited:?}");
    assert_eq!(events[0]["actor_type"], "api_key", "the requester: {audited:?}");

    // The whole tenant as a job: the owner's only.
    let refused = s.send("POST", "/v1/exports/tenant", &key, json!({})).await;
    assert_eq!(refused.status, 403, "{refused:?}");
    let asked = s.send("POST", "/v1/exports/tenant", &owner.token, json!({})).await;
    assert_eq!(asked.status, 202, "{asked:?}");
    let tenant_job = asked.str("id");
    let taken = taker.take().await;
    assert_eq!(taken.len(), 1, "{taken:?}");
    let answer = job_exports::handle(&s.ctx, ovation::jobs::sqs_event(&taken).unwrap()).await;
    assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    assert_eq!(
        s.get(&format!("/v1/exports/{tenant_job}"), &key).await.status,
        404,
        "not the admin's"
    );
    let done = s.get(&format!("/v1/exports/{tenant_job}"), &owner.token).await;
    assert_eq!(
        (done.str("status"), done.str("format")),
        ("done".into(), "jsonl".into()),
        "{done:?}"
    );
    assert!(done.body["rows"].as_i64().unwrap() > 10, "{done:?}");
    let audit = s
        .get("/v1/audit_events?action=tenant.export_requested", &owner.token)
        .await;
    assert_eq!(audit.body.as_array().map(Vec::len), Some(1), "{audit:?}");

    // A tenant has at most 3 exports queued or running.
    for _ in 0..3 {
        let asked = s.send("POST", "/v1/exports/responses", &key, json!({})).await;
        assert_eq!(asked.status, 202, "{asked:?}");
    }
    let refused = s.send("POST", "/v1/exports/responses", &key, json!({})).await;
    assert_eq!(
        (refused.status, refused.str("field")),
        (422, "export".into()),
        "{refused:?}"
    );

    // Deleting the tenant removes its files (not sealed with the keys it shreds).
    let tenant = s.get("/v1/me", &owner.token).await.str("tenant_id");
    let names = [format!("{tenant}/{id}.csv"), format!("{tenant}/{tenant_job}.jsonl")];
    assert_eq!(kept(&s, &names).await, [true, true]);
    let deleted = s
        .call(
            1,
            "DELETE",
            "/v1/platform/tenants/big",
            Auth::Bearer(OPERATOR_KEY),
            None,
        )
        .await;
    assert_eq!(deleted.status, 204, "{deleted:?}");
    // The export job removes them (the API that deletes links no S3 client); the jobs still
    // queued for the deleted tenant end without a file.
    let taken = taker.take().await;
    let removals = taken.iter().filter(|m| m.body.contains("remove_files_of")).count();
    assert_eq!((taken.len(), removals), (4, 1), "{taken:?}");
    let answer = job_exports::handle(&s.ctx, ovation::jobs::sqs_event(&taken).unwrap()).await;
    assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    assert_eq!(kept(&s, &names).await, [false, false]);
}

/// Whether each file is kept: on the local disk, or fetched through a fresh presigned URL.
async fn kept(s: &Stack, names: &[String]) -> Vec<bool> {
    let downloads = s.ctx.export_downloads().unwrap();
    let mut found = Vec::new();
    for name in names {
        found.push(match downloads.download(name, 60).await {
            Ok(Download::Local(path)) => path.is_file(),
            Ok(Download::Url(url)) => reqwest::get(&url).await.unwrap().status().is_success(),
            Err(ovation::Error::NotFound(_)) => false,
            Err(e) => panic!("{name}: {e:?}"),
        });
    }
    found
}

/// The links the API signs itself are the ones the S3 client presigns: same URL, same signature,
/// for the same credentials, time and expiry (with and without a session token).
#[tokio::test]
async fn presigned_links_match_the_s3_clients() {
    use std::time::{Duration, UNIX_EPOCH};
    let at = UNIX_EPOCH + Duration::from_secs(1_796_000_000);
    for token in [None, Some("session-token/+=")] {
        let credentials = aws_credential_types::Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG",
            token.map(String::from),
            None,
            "test",
        );
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("eu-west-1"))
            .credentials_provider(credentials.clone())
            .build();
        let sdk = aws_sdk_s3::Client::from_conf(config)
            .get_object()
            .bucket("ovation-exports-abc123")
            .key("01JT0000000000000000000000/01JT0000000000000000000001.csv")
            .presigned(
                aws_sdk_s3::presigning::PresigningConfig::builder()
                    .start_time(at)
                    .expires_in(Duration::from_secs(900))
                    .build()
                    .unwrap(),
            )
            .await
            .unwrap();
        let url = url::Url::parse(
            "https://ovation-exports-abc123.s3.eu-west-1.amazonaws.com/01JT0000000000000000000000/01JT0000000000000000000001.csv?x-id=GetObject",
        )
        .unwrap();
        let ours = ovation::files::presigned::presign_get(&url, credentials, "eu-west-1", at, Duration::from_secs(900))
            .unwrap();
        let pairs = |link: &str| {
            let url = url::Url::parse(link).unwrap();
            let mut pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
            pairs.sort();
            (url.origin().ascii_serialization(), url.path().to_owned(), pairs)
        };
        assert_eq!(pairs(&ours), pairs(sdk.uri()), "ours: {ours}\nsdk:  {}", sdk.uri());
    }
}
