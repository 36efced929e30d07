//! `limit_arenas` in a process of its own (the cap is process-wide): threads that allocate
//! at the same time share the capped arenas instead of making one each.
#![cfg(all(target_os = "linux", target_env = "gnu"))]

use std::io::Read;
use std::os::fd::IntoRawFd;

/// glibc's own report: one `<heap nr=...>` element per arena.
fn arenas() -> usize {
    let path = std::env::temp_dir().join(format!("weave-arenas-{}.xml", std::process::id()));
    let fd = std::fs::File::create(&path).unwrap().into_raw_fd();
    // SAFETY: fdopen takes ownership of the fd just opened; malloc_info writes to the FILE,
    // which fclose flushes and closes (with the fd). Nothing else uses either.
    unsafe {
        let f = libc::fdopen(fd, c"w".as_ptr());
        assert!(!f.is_null());
        assert_eq!(libc::malloc_info(0, f), 0);
        libc::fclose(f);
    }
    let mut xml = String::new();
    std::fs::File::open(&path).unwrap().read_to_string(&mut xml).unwrap();
    std::fs::remove_file(&path).unwrap();
    xml.matches("<heap nr=").count()
}

#[test]
fn threads_allocating_together_stay_within_the_cap() {
    assert!(weave_netdev::memory::limit_arenas(2));
    let start = std::sync::Arc::new(std::sync::Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                let mut kept = Vec::new();
                for i in 0..200_000usize {
                    let v = vec![(i + t) as u8; 64 + i % 512];
                    if i % 97 == 0 {
                        kept.push(v);
                    }
                }
                kept.len()
            })
        })
        .collect();
    for t in threads {
        assert!(t.join().unwrap() > 0);
    }
    let n = arenas();
    assert!((1..=2).contains(&n), "{n} arenas, the cap is 2");
}
