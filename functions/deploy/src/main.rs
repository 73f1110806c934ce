//! The deploy function: on an ECR or Artifact Registry push (and on the `deploy` and
//! `rollback` commands) it mirrors the image by digest to the other cloud's registry and rolls
//! it out on each configured service, checking at every step and rolling back on failure; every
//! minute it carries on the rollouts in flight. The same binary runs on Lambda, on Cloud Run and
//! once from the command line.

twincloud_runtime::function_main!(twincloud_deploy::SPEC);
