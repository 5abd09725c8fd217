//! `template.yaml` against the code. Every function crate has its resource and the reverse; every
//! route in the route table is an API event of its function and the reverse; every function may
//! make the calls its AWS adapters make (table and key), and no function is granted a wildcard
//! action; and each adapter's declared IAM actions are exactly what the SDK calls in its source
//! need. Each problem is reported by name, so a broken template says what to fix.

use std::collections::BTreeSet;
use std::path::PathBuf;

use ovation::http::routes::{ROUTES, Route};
use serde_yaml_ng::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The function crates: one folder each in `functions/`, named as the crate.
fn function_crates() -> Vec<String> {
    let mut crates: Vec<String> = std::fs::read_dir(repo().join("functions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    crates.sort();
    crates
}

/// A value as text: `!GetAtt Table.Arn` → `GetAtt Table.Arn`, lists joined.
fn render(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Tagged(t) => format!("{} {}", t.tag.to_string().trim_start_matches('!'), render(&t.value)),
        Value::Sequence(items) => items.iter().map(render).collect::<Vec<_>>().join(" "),
        other => format!("{other:?}"),
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Sequence(items)) => items.iter().map(render).collect(),
        Some(v) => vec![render(v)],
        None => vec![],
    }
}

/// What needs granting on which resource: the adapters' actions, for every function (each one
/// builds the store and the keyring), and for the functions that sign export links (the API's
/// and the web app's), GetObject on the files (a presigned GET is authorised as its signer).
fn required(binary: &str) -> Vec<(&'static str, &'static [&'static str], Vec<&'static str>)> {
    let mut required = vec![
        (
            "the table",
            ovation::store::dynamo::IAM_ACTIONS,
            vec!["GetAtt Table.Arn", "Sub ${Table.Arn}/index/*"],
        ),
        (
            "the data key",
            ovation::crypto::kms::IAM_ACTIONS,
            vec!["GetAtt DataKey.Arn"],
        ),
    ];
    if binary == "job-restore-drill" {
        required.push((
            "the table it restores",
            &[
                "dynamodb:DescribeContinuousBackups",
                "dynamodb:RestoreTableToPointInTime",
            ],
            vec!["GetAtt Table.Arn"],
        ));
        // The restore writes the copy with the caller's permissions; the checks read it.
        required.push((
            "the drill's copies",
            &[
                "dynamodb:DescribeTable",
                "dynamodb:DeleteTable",
                "dynamodb:Scan",
                "dynamodb:Query",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
                "dynamodb:BatchWriteItem",
            ],
            vec!["Sub arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/ovation-${Stage}-drill-*"],
        ));
    }
    if binary == "api-responses" || binary == "web" {
        required.push((
            "the export files",
            ovation::files::presigned::IAM_ACTIONS,
            vec!["Sub ${ExportsBucket.Arn}/*"],
        ));
    }
    required
}

/// Everything wrong with `template` against the crates and the route table.
fn problems(template: &str, crates: &[String], routes: &[Route]) -> Vec<String> {
    let doc: Value = match serde_yaml_ng::from_str(template) {
        Ok(doc) => doc,
        Err(e) => return vec![format!("template.yaml does not parse: {e}")],
    };
    let mut out = Vec::new();
    let resources = doc["Resources"].as_mapping().cloned().unwrap_or_default();
    let mut binaries = BTreeSet::new();
    for (name, resource) in &resources {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let name = render(name);
        let Some(binary) = resource["Metadata"]["BuildProperties"]["Binary"].as_str() else {
            out.push(format!(
                "{name} has no Metadata.BuildProperties.Binary naming its crate"
            ));
            continue;
        };
        binaries.insert(binary.to_owned());
        if !crates.iter().any(|c| c == binary) {
            out.push(format!("{name} builds {binary}, which is no crate in functions/"));
        }

        let events = resource["Properties"]["Events"]
            .as_mapping()
            .cloned()
            .unwrap_or_default();
        if events.is_empty() {
            out.push(format!("{name} has no route or trigger"));
        }
        for (event, e) in &events {
            if e["Type"].as_str() == Some("Api") && render(&e["Properties"]["RestApiId"]) != "Ref Api" {
                out.push(format!(
                    "{name}'s event {} is not on the Api resource (an implicit API has no WAF or logs)",
                    render(event)
                ));
            }
        }
        let declared: BTreeSet<(String, String)> = events
            .values()
            .filter(|e| e["Type"].as_str() == Some("Api"))
            .map(|e| {
                let p = &e["Properties"];
                (
                    p["Method"].as_str().unwrap_or("").to_uppercase(),
                    p["Path"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        // Every path also takes OPTIONS, the browsers' CORS preflight.
        let expected: BTreeSet<(String, String)> = routes
            .iter()
            .filter(|r| r.function == binary)
            .flat_map(|r| {
                [
                    (r.method.to_owned(), r.path.to_owned()),
                    ("OPTIONS".to_owned(), r.path.to_owned()),
                ]
            })
            .collect();
        for (method, path) in expected.difference(&declared) {
            out.push(format!(
                "route {method} {path} of {binary} is not an API event of {name}"
            ));
        }
        for (method, path) in declared.difference(&expected) {
            out.push(format!(
                "{name} has an API event {method} {path} that the route table does not give {binary}"
            ));
        }

        let policies = resource["Properties"]["Policies"]
            .as_sequence()
            .cloned()
            .unwrap_or_default();
        for policy in policies.iter().filter(|p| p.get("Statement").is_none()) {
            out.push(format!(
                "{name} uses a policy this check cannot see ({}); write it as statements",
                render(policy)
            ));
        }
        let statements: Vec<&Value> = policies
            .iter()
            .filter_map(|p| p["Statement"].as_sequence())
            .flatten()
            .collect();
        if statements.is_empty() {
            out.push(format!("{name} has no policy statements"));
        }
        for statement in &statements {
            for action in strings(statement.get("Action")) {
                if action.contains('*') {
                    out.push(format!("{name} grants a wildcard action {action}"));
                }
            }
            if statement.get("NotAction").is_some() {
                out.push(format!("{name} grants by NotAction"));
            }
            if strings(statement.get("Resource")).iter().any(|r| r == "*") {
                out.push(format!("{name} grants on every resource (*)"));
            }
        }
        for (what, actions, arns) in required(binary) {
            for action in actions {
                for arn in &arns {
                    let granted = statements.iter().any(|s| {
                        s["Effect"].as_str() == Some("Allow")
                            && strings(s.get("Action")).iter().any(|a| a == action)
                            && strings(s.get("Resource")).iter().any(|r| r == arn)
                    });
                    if !granted {
                        out.push(format!("{name} lacks {action} on {what} ({arn})"));
                    }
                }
            }
        }
    }
    out.extend(key_and_api_problems(&doc));
    for c in crates {
        if !binaries.contains(c) {
            out.push(format!("function crate {c} has no resource in template.yaml"));
        }
    }
    for r in routes {
        if !binaries.contains(r.function) {
            out.push(format!(
                "route {} {} names function {}, which template.yaml lacks",
                r.method, r.path, r.function
            ));
        }
    }
    out
}

/// The key policy admits exactly the stack's function roles (by their role path) with a tenant
/// encryption context, and anyone else only through DynamoDB within the account; the API has no
/// implicit extra stage.
fn key_and_api_problems(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let role_path = render(&doc["Globals"]["Function"]["RolePath"]);
    if role_path != "Sub /ovation-${Stage}/" {
        out.push(format!(
            "Globals.Function.RolePath is {role_path:?}, not /ovation-${{Stage}}/"
        ));
    }
    let statements = doc["Resources"]["DataKey"]["Properties"]["KeyPolicy"]["Statement"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    let for_functions = statements.iter().find(|st| {
        strings(st.get("Action")).iter().any(|a| a == "kms:Decrypt") && st["Condition"].get("ArnLike").is_some()
    });
    match for_functions {
        None => out.push("the key policy has no statement for the functions' roles".into()),
        Some(st) => {
            let arn = render(&st["Condition"]["ArnLike"]["aws:PrincipalArn"]);
            if !arn.ends_with(":role/ovation-${Stage}/*") {
                out.push(format!("the key policy admits roles {arn}, not the function role path"));
            }
            if st["Condition"]["ForAllValues:StringEquals"]
                .get("kms:EncryptionContextKeys")
                .is_none()
            {
                out.push("the key policy lets functions use the key without a tenant encryption context".into());
            }
        }
    }
    for st in &statements {
        let anyone = render(&st["Principal"]["AWS"]) == "*";
        let via = st["Condition"]["StringEquals"].get("kms:ViaService").is_some();
        let account = st["Condition"]["StringEquals"].get("kms:CallerAccount").is_some();
        if anyone && !(via && account) {
            out.push(format!(
                "key policy statement {} admits anyone without kms:ViaService and kms:CallerAccount",
                render(&st["Sid"])
            ));
        }
    }
    // The scheduler paces itself by the deliverers' number: the event source's maximum.
    let deliverers =
        &doc["Resources"]["JobSchedulerFunction"]["Properties"]["Environment"]["Variables"]["OVATION_DELIVERERS"];
    let concurrency = &doc["Resources"]["JobDeliverFunction"]["Properties"]["Events"]["Deliveries"]["Properties"]["ScalingConfig"]
        ["MaximumConcurrency"];
    if deliverers.as_str().and_then(|d| d.parse::<u64>().ok()) != concurrency.as_u64() {
        out.push(format!(
            "JobSchedulerFunction's OVATION_DELIVERERS ({}) is not JobDeliverFunction's MaximumConcurrency ({})",
            render(deliverers),
            render(concurrency)
        ));
    }
    // Jobs that write links have no request to take the public URL from: without `PublicUrl`
    // they name the API's own (SAM's Api cannot be named by the functions behind it: a cycle).
    for function in ["JobDeliverFunction", "JobWebhooksFunction"] {
        let url = &doc["Resources"][function]["Properties"]["Environment"]["Variables"]["OVATION_PUBLIC_URL"];
        let url = render(url);
        if !(url.contains("HasPublicUrl") && url.contains("https://${Api}.execute-api")) {
            out.push(format!(
                "{function}'s OVATION_PUBLIC_URL is {url:?}, not PublicUrl or else the API's URL"
            ));
        }
    }
    if doc["Resources"]["Api"]["Properties"].get("OpenApiVersion").is_none() {
        out.push("Api has no OpenApiVersion: SAM adds a stage named Stage outside WAF and logs".into());
    }
    out
}

#[test]
fn the_template_matches_the_functions_routes_and_adapters() {
    let found = problems(&read("template.yaml"), &function_crates(), ROUTES);
    assert!(found.is_empty(), "template.yaml:\n{}", found.join("\n"));
}

#[test]
fn a_broken_template_says_what_is_wrong() {
    let template = read("template.yaml");
    let crates = function_crates();
    let broken = |from: &str, to: &str| {
        assert!(template.contains(from), "{from:?}");
        problems(&template.replacen(from, to, 1), &crates, ROUTES)
    };
    let has =
        |found: &[String], text: &str| assert!(found.iter().any(|p| p.contains(text)), "{text:?} not in {found:#?}");

    // The function's own KMS grant (the key policy names kms:Decrypt too).
    let function_kms =
        "- kms:Decrypt\n                - kms:GenerateDataKey\n              Resource: !GetAtt DataKey.Arn";
    let without_decrypt = function_kms.replace("kms:Decrypt", "kms:Encrypt");
    let preflight = "        OptionsHealth:\n          Type: Api\n          Properties:\n            RestApiId: !Ref Api\n            Path: /health\n            Method: options\n";
    // (text replaced, its replacement, what the check must then say)
    let cases: &[(&str, &str, &str)] = &[
        (
            "- dynamodb:Query",
            "- dynamodb:*",
            "ApiAdminFunction grants a wildcard action dynamodb:*",
        ),
        (
            "OVATION_DELIVERERS: \"2\"",
            "OVATION_DELIVERERS: \"3\"",
            "OVATION_DELIVERERS (3) is not JobDeliverFunction's MaximumConcurrency (Number(2))",
        ),
        (
            "- dynamodb:Query",
            "- dynamodb:Scan",
            "ApiAdminFunction lacks dynamodb:Query on the table",
        ),
        (
            function_kms,
            &without_decrypt,
            "ApiAdminFunction lacks kms:Decrypt on the data key",
        ),
        (
            "      Policies:\n        - Statement:\n",
            "      NoPolicies:\n        - Statement:\n",
            "ApiAdminFunction has no policy statements",
        ),
        (
            "      Events:\n        GetHealth:",
            "      NoEvents:\n        GetHealth:",
            "ApiAdminFunction has no route or trigger",
        ),
        (
            "            RestApiId: !Ref Api\n            Path: /health",
            "            Path: /health",
            "ApiAdminFunction's event GetHealth is not on the Api resource",
        ),
        (
            "      Policies:\n        - Statement:\n",
            "      Policies:\n        - AmazonDynamoDBFullAccess\n        - Statement:\n",
            "ApiAdminFunction uses a policy this check cannot see (AmazonDynamoDBFullAccess)",
        ),
        (
            "                - !Sub \"${Table.Arn}/index/*\"",
            "                - \"*\"",
            "ApiAdminFunction grants on every resource (*)",
        ),
        (
            "                kms:ViaService: !Sub \"dynamodb.${AWS::Region}.amazonaws.com\"\n",
            "",
            "key policy statement DynamoDBEncryptsTheTable admits anyone without kms:ViaService",
        ),
        (
            "role/ovation-${Stage}/*",
            "role/${AWS::StackName}-*",
            "the key policy admits roles",
        ),
        ("      OpenApiVersion: \"3.0.1\"\n", "", "Api has no OpenApiVersion"),
        (
            preflight,
            "",
            "route OPTIONS /health of api-admin is not an API event of ApiAdminFunction",
        ),
        (
            "Binary: api-admin",
            "Binary: api-gone",
            "function crate api-admin has no resource in template.yaml",
        ),
    ];
    for (from, to, expected) in cases {
        has(&broken(from, to), expected);
    }
    let moved = broken("Path: /health", "Path: /healthz");
    has(
        &moved,
        "route GET /health of api-admin is not an API event of ApiAdminFunction",
    );
    has(
        &moved,
        "ApiAdminFunction has an API event GET /healthz that the route table does not give api-admin",
    );

    let mut more = crates.clone();
    more.push("job-reports".into());
    has(
        &problems(&template, &more, ROUTES),
        "function crate job-reports has no resource in template.yaml",
    );
    let orphan = [Route {
        method: "GET",
        path: "/v1/reports",
        function: "api-reports",
        ..ROUTES[0]
    }];
    has(
        &problems(&template, &crates, &orphan),
        "route GET /v1/reports names function api-reports, which template.yaml lacks",
    );
}

/// The IAM actions the SDK calls in `source` need (`.client.get_item()` → `dynamodb:GetItem`).
fn actions_of_calls(source: &str, service: &str) -> BTreeSet<String> {
    let compact: String = source.split_whitespace().collect();
    let mut actions = BTreeSet::new();
    for call in compact.split(".client.").skip(1) {
        let op: String = call
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        match op.as_str() {
            // SES v2's SendEmail with raw content is authorised as both.
            "send_email" if service == "ses" => {
                actions.insert("ses:SendEmail".into());
                actions.insert("ses:SendRawEmail".into());
            }
            // S3's listing is authorised on the bucket, a batch delete object by object.
            "list_objects_v2" => {
                actions.insert("s3:ListBucket".into());
            }
            "delete_objects" => {
                actions.insert("s3:DeleteObject".into());
            }
            // A transaction is authorised item by item.
            "transact_write_items" => {
                for a in ["PutItem", "UpdateItem", "DeleteItem", "ConditionCheckItem"] {
                    actions.insert(format!("{service}:{a}"));
                }
            }
            _ => {
                let camel: String = op.split('_').map(|w| w[..1].to_uppercase() + &w[1..]).collect();
                actions.insert(format!("{service}:{camel}"));
            }
        }
    }
    actions
}

#[test]
fn adapters_declare_exactly_the_actions_their_calls_need() {
    for (path, service, declared) in [
        (
            "shared/src/store/dynamo.rs",
            "dynamodb",
            ovation::store::dynamo::IAM_ACTIONS,
        ),
        ("shared/src/crypto/kms.rs", "kms", ovation::crypto::kms::IAM_ACTIONS),
        (
            "shared/src/messaging/ses.rs",
            "ses",
            ovation::messaging::ses::IAM_ACTIONS,
        ),
        (
            "shared/src/messaging/sns.rs",
            "sns",
            ovation::messaging::sns::IAM_ACTIONS,
        ),
        (
            "shared/src/messaging/sqs.rs",
            "sqs",
            ovation::messaging::sqs::IAM_ACTIONS,
        ),
        ("shared/src/files/s3.rs", "s3", ovation::files::s3::IAM_ACTIONS),
        ("shared/src/drill.rs", "dynamodb", ovation::drill::IAM_ACTIONS),
    ] {
        let needed = actions_of_calls(&read(path), service);
        let declared: BTreeSet<String> = declared.iter().map(|a| a.to_string()).collect();
        assert!(!needed.is_empty(), "no calls found in {path}");
        assert_eq!(
            needed, declared,
            "{path}: the IAM actions its calls need vs. IAM_ACTIONS"
        );
    }
}

/// The AWS Backup plan: daily, weekly and monthly copies kept as long as the parameters say
/// (grandfather-father-son: 35, 91 and 365 days by default), in a vault encrypted with the
/// stack's key, of the table; a second region only when asked; a role with only what backing up
/// this table needs.
#[test]
fn the_backup_plan_keeps_grandfather_father_son_copies_encrypted() {
    let doc: Value = serde_yaml_ng::from_str(&read("template.yaml")).unwrap();
    let resources = &doc["Resources"];
    let vault = &resources["BackupVault"];
    assert_eq!(vault["Type"].as_str(), Some("AWS::Backup::BackupVault"));
    assert_eq!(render(&vault["Properties"]["EncryptionKeyArn"]), "GetAtt DataKey.Arn");
    assert_eq!(
        vault["DeletionPolicy"].as_str(),
        Some("Retain"),
        "backups outlive the stack"
    );

    let rules = resources["BackupPlan"]["Properties"]["BackupPlan"]["BackupPlanRule"]
        .as_sequence()
        .unwrap();
    let mut kept = std::collections::BTreeMap::new();
    for rule in rules {
        assert_eq!(render(&rule["TargetBackupVault"]), "Ref BackupVault");
        let days = render(&rule["Lifecycle"]["DeleteAfterDays"]);
        let parameter = days.trim_start_matches("Ref ");
        let default = doc["Parameters"][parameter]["Default"].as_u64().unwrap();
        kept.insert(
            rule["RuleName"].as_str().unwrap().to_owned(),
            (render(&rule["ScheduleExpression"]), default),
        );
        let copy = render(&rule["CopyActions"]);
        assert!(
            copy.starts_with("If HasBackupCopy"),
            "a copy to a second region only when asked: {copy}"
        );
    }
    assert_eq!(kept["daily"], ("cron(0 3 * * ? *)".to_owned(), 35));
    assert_eq!(kept["weekly"], ("cron(0 4 ? * SUN *)".to_owned(), 91));
    assert_eq!(kept["monthly"], ("cron(0 5 1 * ? *)".to_owned(), 365));
    let when = render(&doc["Conditions"]["HasBackupCopy"]);
    assert!(when.starts_with("Not Equals Ref BackupCopyRegion"), "{when}");
    assert_eq!(
        doc["Parameters"]["BackupCopyRegion"]["Default"].as_str(),
        Some(""),
        "no copy unless asked"
    );
    // Point-in-time recovery stays on beside it.
    let pitr = &resources["Table"]["Properties"]["PointInTimeRecoverySpecification"];
    assert_eq!(pitr["PointInTimeRecoveryEnabled"].as_bool(), Some(true));

    // A failed backup or copy alarms.
    for (alarm, metric) in [
        ("BackupJobsFailedAlarm", "NumberOfBackupJobsFailed"),
        ("BackupCopyJobsFailedAlarm", "NumberOfCopyJobsFailed"),
    ] {
        let properties = &resources[alarm]["Properties"];
        assert_eq!(properties["Namespace"].as_str(), Some("AWS/Backup"), "{alarm}");
        assert_eq!(properties["MetricName"].as_str(), Some(metric), "{alarm}");
        assert_eq!(
            strings(properties.get("AlarmActions")),
            vec!["Ref AlarmTopic"],
            "{alarm}"
        );
    }
    let selection = &resources["BackupSelection"]["Properties"]["BackupSelection"];
    assert_eq!(strings(selection.get("Resources")), vec!["GetAtt Table.Arn"]);
    assert_eq!(render(&selection["IamRoleArn"]), "GetAtt BackupRole.Arn");
    let role = &resources["BackupRole"]["Properties"];
    assert!(
        role.get("ManagedPolicyArns").is_none(),
        "no managed policy: it allows every service"
    );
    for policy in role["Policies"].as_sequence().unwrap() {
        for statement in policy["PolicyDocument"]["Statement"].as_sequence().unwrap() {
            for action in strings(statement.get("Action")) {
                assert!(!action.contains('*'), "a wildcard action {action}");
            }
            for resource in strings(statement.get("Resource")) {
                assert_ne!(resource, "*", "{statement:?}");
            }
        }
    }
}
