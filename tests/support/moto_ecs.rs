//! ECS on moto for the tests that scale services: a fresh cluster with a task definition and
//! the named services at their desired counts.
#![allow(dead_code, clippy::unwrap_used)]

use twincloud_aws::AwsContext;

/// A fresh cluster holding `services` (name, desired count); its name.
pub async fn ecs_cluster(ctx: &AwsContext, services: &[(&str, i32)]) -> String {
    let ecs = ctx.ecs();
    let cluster = twincloud_testkit::unique("aion");
    ecs.create_cluster()
        .cluster_name(&cluster)
        .send()
        .await
        .unwrap();
    ecs.register_task_definition()
        .family("aion-backend")
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("app")
                .image("aion-backend:v2")
                .memory(512)
                .environment(
                    aws_sdk_ecs::types::KeyValuePair::builder()
                        .name("LOG_LEVEL")
                        .value("info")
                        .build(),
                )
                .secrets(
                    aws_sdk_ecs::types::Secret::builder()
                        .name("DATABASE_URL")
                        .value_from(
                            "arn:aws:secretsmanager:us-east-1:123456789012:secret:twincloud/app/db",
                        )
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    for (name, desired) in services {
        ecs.create_service()
            .cluster(&cluster)
            .service_name(*name)
            .task_definition("aion-backend")
            .desired_count(*desired)
            .launch_type(aws_sdk_ecs::types::LaunchType::Ec2)
            .send()
            .await
            .unwrap();
    }
    cluster
}
