# Shared by compare.sh and limits.sh (sourced from the repository's root).

# Prints the directory to work in: $WORK_DIR, else the first of $TMPDIR,
# /var/tmp and /tmp that is not tmpfs (repositories and node stores on tmpfs
# would measure memory, not the disk the tools are for).
disk_work_root() {
    local candidate
    if [ -n "${WORK_DIR:-}" ]; then echo "$WORK_DIR"; return; fi
    for candidate in ${TMPDIR:-} /var/tmp /tmp; do
        [ -d "$candidate" ] || continue
        [ "$(df --output=fstype "$candidate" | tail -1)" = tmpfs ] && continue
        echo "$candidate"; return
    done
    echo "no disk-backed temporary directory; set WORK_DIR" >&2
    return 1
}

# Cold reads for the next timed phase; needs root, harmless without.
drop_caches() { sync; { echo 3 > /proc/sys/vm/drop_caches; } 2>/dev/null || true; }
