//! Any HTTP delivery: the first bytes choose which headers are present (CloudEvents binary mode,
//! Cloud Scheduler), the rest is the body.
#![no_main]
use twincloud_core::HttpRequest;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (flags, body) = data.split_first().map_or((0, &[][..]), |(f, b)| (*f, b));
    let mut headers = Vec::new();
    if flags & 1 != 0 {
        headers.push(("ce-specversion".to_owned(), "1.0".to_owned()));
        headers.push(("ce-id".to_owned(), "1".to_owned()));
        headers.push(("ce-source".to_owned(), "//fuzz".to_owned()));
        let ty = match flags >> 1 & 3 {
            0 => "google.cloud.pubsub.topic.v1.messagePublished",
            1 => "google.cloud.storage.object.v1.finalized",
            2 => "google.cloud.storage.object.v1.deleted",
            _ => "com.example.other",
        };
        headers.push(("ce-type".to_owned(), ty.to_owned()));
    }
    if flags & 8 != 0 {
        headers.push(("x-cloudscheduler-jobname".to_owned(), "projects/p/locations/l/jobs/j".to_owned()));
    }
    let _ = twincloud_core::decode_http(&HttpRequest { headers, body: body.to_vec() });
});
