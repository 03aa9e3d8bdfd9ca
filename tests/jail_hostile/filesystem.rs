//! Reading and writing outside `/job`: canaries on the host by every path
//! a job can spell (absolute, `..`, `/proc/*/root`, `/proc/*/cwd`), host-only
//! directories, writes into the shared rootfs, the host's /tmp and /dev/shm,
//! device nodes and kernel knobs.

use super::harness::{rootfs_path, token, Canary, Jail};

#[test]
fn reading_host_canaries_by_absolute_path_finds_nothing() {
    let canary = Canary::plant();
    let script = format!(
        r#"for p in {paths}; do cat "$p" && echo "ESCAPED:read $p"; done
ls -la /root /var/tmp 2>&1
echo PROBE-END"#,
        paths = canary.shell_words()
    );
    let ran = Jail::sh(&script).run();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
    ran.assert_secret_absent(&canary.secret);
}

#[test]
fn reading_canaries_through_proc_root_and_cwd_links_finds_nothing() {
    let canary = Canary::plant();
    let script = format!(
        r#"for p in {paths}; do
  for pre in /proc/1/root /proc/self/root/.. /proc/self/root/../.. /proc/thread-self/root \
             /proc/self/cwd/../../.. /proc/1/cwd/../../.. /proc/$PPID/root /proc/$PPID/cwd/../../..; do
    cat "$pre$p" 2>/dev/null && echo "ESCAPED:read $pre$p"
  done
done
echo PROBE-END"#,
        paths = canary.shell_words()
    );
    let ran = Jail::sh(&script).run();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
    ran.assert_secret_absent(&canary.secret);
}

#[test]
fn dotdot_walks_from_job_stay_inside_the_jail() {
    let canary = Canary::plant();
    let script = format!(
        r#"cd /job || echo "ESCAPED:no /job"
for p in {paths}; do
  cat "../../../../../../../..$p" 2>/dev/null && echo "ESCAPED:read ..$p"
  cat "/job/../../../..$p" 2>/dev/null && echo "ESCAPED:read /job/..$p"
  cat "/tmp/../../../..$p" 2>/dev/null && echo "ESCAPED:read /tmp/..$p"
done
[ "$(ls -a /job/../../../..)" = "$(ls -a /)" ] || echo "ESCAPED:/job/../.. is not the jail root"
echo PROBE-END"#,
        paths = canary.shell_words()
    );
    let ran = Jail::sh(&script).run();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
    ran.assert_secret_absent(&canary.secret);
}

#[test]
fn every_process_root_and_cwd_link_stays_inside_the_jail() {
    let canary = Canary::plant();
    // Whatever processes the jail's /proc shows, none of their root or cwd
    // links may lead to the host's tree.
    let script = format!(
        r#"for d in /proc/[0-9]*; do
  for l in root cwd; do
    for p in {paths}; do
      cat "$d/$l$p" 2>/dev/null && echo "ESCAPED:read $d/$l$p"
      cat "$d/$l/../../../..$p" 2>/dev/null && echo "ESCAPED:read $d/$l/..$p"
    done
  done
  cat "$d/environ" 2>/dev/null | tr '\0' '\n'
done
echo PROBE-END"#,
        paths = canary.shell_words()
    );
    let ran = Jail::sh(&script).run();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
    ran.assert_secret_absent(&canary.secret);
}

#[test]
fn searching_the_tree_finds_no_canary() {
    let canary = Canary::plant();
    // A search by name, not by a path the test handed in: the canaries must
    // not be anywhere the job can see (/usr is the rootfs, pruned for time).
    let script = r#"find / -maxdepth 5 \( -path /proc -o -path /usr -o -path /sys \) -prune \
  -o -name 'texjail-canary-*' -print 2>/dev/null | while read f; do
  echo "ESCAPED:found $f"; cat "$f"
done
echo PROBE-END"#;
    let ran = Jail::sh(script).run();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
    ran.assert_secret_absent(&canary.secret);
}

#[test]
fn host_only_directories_are_not_visible() {
    let canary = Canary::plant();
    let rootfs = rootfs_path("/");
    let script = format!(
        r#"for d in /work /var/cache/texjail /var/lib/texjail /mnt/sandboxing /sys/fs/cgroup/memory \
         '{canary_dir}' '{rootfs}' '{me}'; do
  [ -e "$d" ] && echo "ESCAPED:visible $d"
done
echo PROBE-END"#,
        canary_dir = canary.dir().display(),
        rootfs = rootfs.display(),
        me = std::env::current_exe().unwrap().display(),
    );
    let ran = Jail::sh(&script).run();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
}

#[test]
fn writes_into_the_rootfs_fail_and_leave_it_unchanged() {
    let marker = format!("texjail-w-{}", token());
    let hostname_mtime = std::fs::metadata(rootfs_path("/etc/hostname"))
        .and_then(|m| m.modified())
        .ok();
    // Only new, uniquely named files and an mtime-only touch: if the jail
    // were broken, this must not damage the shared rootfs.
    let targets = [
        "/",
        "/usr/bin/",
        "/usr/lib/",
        "/etc/",
        "/var/tmp/",
        "/root/",
        "/home/",
        "/var/",
        "/opt/",
    ];
    let mut script = String::new();
    for dir in targets {
        script.push_str(&format!(
            "echo x > '{dir}{marker}' 2>/dev/null && echo 'ESCAPED:wrote {dir}{marker}'\n\
             mkdir '{dir}{marker}.d' 2>/dev/null && echo 'ESCAPED:mkdir {dir}{marker}.d'\n"
        ));
    }
    script.push_str(
        "touch -c /etc/hostname 2>/dev/null && echo 'ESCAPED:touched /etc/hostname'\n\
         chmod 777 /usr/bin/perl 2>/dev/null && echo 'ESCAPED:chmod perl'\n\
         ln -s /etc/passwd /usr/bin/texjail-link 2>/dev/null && echo 'ESCAPED:symlink in /usr/bin'\n\
         echo PROBE-END\n",
    );
    let perl_mode_before = std::fs::metadata(rootfs_path("/usr/bin/perl")).map(|m| {
        use std::os::unix::fs::PermissionsExt;
        m.permissions().mode()
    });
    let ran = Jail::sh(&script).run();

    let mut found = Vec::new();
    for dir in targets {
        for name in [marker.clone(), format!("{marker}.d")] {
            let path = rootfs_path(&format!("{dir}{name}"));
            if std::fs::symlink_metadata(&path).is_ok() {
                let _ = std::fs::remove_file(&path).or_else(|_| std::fs::remove_dir(&path));
                found.push(path);
            }
        }
    }
    assert!(
        found.is_empty(),
        "the job wrote into the host's rootfs: {found:?}{}",
        ran.describe()
    );
    assert_eq!(
        std::fs::metadata(rootfs_path("/etc/hostname"))
            .and_then(|m| m.modified())
            .ok(),
        hostname_mtime,
        "the job touched the rootfs's /etc/hostname{}",
        ran.describe()
    );
    let perl_mode_after = std::fs::metadata(rootfs_path("/usr/bin/perl")).map(|m| {
        use std::os::unix::fs::PermissionsExt;
        m.permissions().mode()
    });
    assert_eq!(
        perl_mode_before.ok(),
        perl_mode_after.ok(),
        "the job changed /usr/bin/perl's mode in the rootfs"
    );
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
}

#[test]
fn writes_to_tmp_and_dev_shm_stay_inside_the_job() {
    let marker = format!("texjail-w-{}", token());
    let script = format!(
        r#"echo data > /tmp/{marker} || echo "NOTE:/tmp not writable"
echo data > /dev/shm/{marker} 2>/dev/null
echo data > /run/{marker} 2>/dev/null && echo "ESCAPED:wrote /run"
echo data > /var/tmp/{marker} 2>/dev/null && echo "ESCAPED:wrote /var/tmp"
echo data > /dev/{marker} 2>/dev/null && echo "ESCAPED:wrote /dev"
echo PROBE-END"#
    );
    let ran = Jail::sh(&script).run();
    for host in [
        format!("/tmp/{marker}"),
        format!("/dev/shm/{marker}"),
        format!("/run/{marker}"),
        format!("/var/tmp/{marker}"),
        format!("/dev/{marker}"),
    ] {
        let leaked = std::path::Path::new(&host).exists();
        let _ = std::fs::remove_file(&host);
        assert!(
            !leaked,
            "the job's write reached the host's {host}{}",
            ran.describe()
        );
        let in_rootfs = rootfs_path(&host);
        let leaked = in_rootfs.exists();
        let _ = std::fs::remove_file(&in_rootfs);
        assert!(
            !leaked,
            "the job's write reached the rootfs: {}{}",
            in_rootfs.display(),
            ran.describe()
        );
    }
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
}

#[test]
fn writes_through_proc_root_links_do_not_reach_the_host() {
    let marker = format!("texjail-w-{}", token());
    let script = format!(
        r#"for d in /proc/[0-9]* /proc/self /proc/thread-self; do
  for t in root/tmp root/var/tmp root/root cwd/../../../tmp root/../../tmp; do
    echo x > "$d/$t/{marker}" 2>/dev/null
  done
done
echo PROBE-END"#
    );
    let ran = Jail::sh(&script).run();
    for dir in ["/tmp", "/var/tmp", "/root", "/"] {
        let host = std::path::Path::new(dir).join(&marker);
        let leaked = host.exists();
        let _ = std::fs::remove_file(&host);
        assert!(
            !leaked,
            "a write through /proc reached the host: {}{}",
            host.display(),
            ran.describe()
        );
        let in_rootfs = rootfs_path(&host.display().to_string());
        let leaked = in_rootfs.exists();
        let _ = std::fs::remove_file(&in_rootfs);
        assert!(
            !leaked,
            "a write through /proc reached the rootfs: {}{}",
            in_rootfs.display(),
            ran.describe()
        );
    }
    ran.assert_completed("PROBE-END");
}

#[test]
fn device_nodes_and_kernel_knobs_are_out_of_reach() {
    // Writing the value a knob already has is harmless if the jail is
    // broken, and still needs write access to succeed.
    let script = r#"mknod /job/blk b 254 0 2>/dev/null && echo "ESCAPED:mknod block device"
mknod /tmp/mem c 1 1 2>/dev/null && echo "ESCAPED:mknod /dev/mem"
for d in /dev/vda /dev/sda /dev/mem /dev/kmem /dev/port /dev/kmsg /dev/console /dev/tty1 /dev/vcs; do
  [ -e "$d" ] && echo "ESCAPED:device $d exists"
done
for k in /proc/sys/vm/overcommit_memory /proc/sys/kernel/core_pattern /proc/sys/kernel/modprobe; do
  v=$(cat "$k" 2>/dev/null) && printf '%s\n' "$v" > "$k" 2>/dev/null && echo "ESCAPED:wrote $k"
done
[ -w /proc/sysrq-trigger ] && echo "ESCAPED:sysrq-trigger writable"
[ -w /sys/kernel ] && echo "ESCAPED:/sys writable"
ls /dev
echo PROBE-END"#;
    let ran = Jail::sh(script).run();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
}

#[test]
fn proc_and_sys_expose_no_kernel_interfaces() {
    // /proc should hold processes only (subset=pid) and /sys nothing: the
    // kernel's symbol table, memory, keys and tunables are attack surface.
    let script = r#"for f in /proc/kcore /proc/kallsyms /proc/keys /proc/key-users /proc/timer_list \
         /proc/sched_debug /proc/sysrq-trigger /proc/kmsg /proc/modules /proc/slabinfo \
         /proc/sys/kernel/core_pattern /proc/config.gz /proc/iomem /proc/vmallocinfo \
         /sys/kernel /sys/firmware /sys/class/net /sys/fs/cgroup /sys/module; do
  [ -e "$f" ] && echo "ESCAPED:exposed $f"
done
ls -A /sys | grep -q . && echo "ESCAPED:/sys is populated"
echo PROBE-END"#;
    let ran = Jail::sh(script).run();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
}

#[test]
fn the_jails_device_nodes_cannot_be_altered() {
    // /dev/null and friends are bind mounts of the host's own device
    // nodes: changing them inside would change them for the whole host.
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let devices = ["null", "zero", "full", "random", "urandom"];
    let before: Vec<_> = devices
        .iter()
        .map(|d| {
            let m = std::fs::metadata(format!("/dev/{d}")).unwrap();
            (m.mode(), m.uid(), m.rdev())
        })
        .collect();
    let script = r#"for d in null zero full random urandom; do
  chmod 000 /dev/$d 2>/dev/null && echo "ESCAPED:chmod /dev/$d"
  chown 0:0 /dev/$d 2>/dev/null && [ "$(id -u)" != 0 ] && echo "ESCAPED:chown /dev/$d"
  rm -f /dev/$d 2>/dev/null; [ -c /dev/$d ] || echo "ESCAPED:removed /dev/$d"
  mv /dev/$d /dev/$d.x 2>/dev/null && echo "ESCAPED:renamed /dev/$d"
done
echo PROBE-END"#;
    let ran = Jail::sh(script).run();
    for (d, was) in devices.iter().zip(before) {
        let m = std::fs::metadata(format!("/dev/{d}")).unwrap();
        assert!(m.file_type().is_char_device(), "host /dev/{d} is gone");
        assert_eq!(
            (m.mode(), m.uid(), m.rdev()),
            was,
            "the job changed the host's /dev/{d}{}",
            ran.describe()
        );
    }
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
}
