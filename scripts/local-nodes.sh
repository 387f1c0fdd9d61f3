# Sourced, not run: starts a local flud network for demos and benchmarks.
#
# start_local_nodes FLUD COUNT DIR
#   Starts COUNT `flud node` processes on 127.0.0.1, node 0 first and the
#   others bootstrapping through it. Node I stores in DIR/node-I and logs to
#   DIR/node-I.log. Sets LOCAL_BASE (node 0's port, node I is on
#   LOCAL_BASE + I) and appends each PID to the array local_node_pids, so the
#   caller can kill exactly what it started. Returns 1, with the node's log on
#   standard error, if a node does not come up within 10 s.
start_local_nodes() {
    local flud=$1 count=$2 dir=$3 i
    LOCAL_BASE=$((20000 + RANDOM % 20000))
    mkdir -p "$dir"
    for (( i = 0; i < count; i++ )); do
        local bootstrap=()
        (( i > 0 )) && bootstrap=(--bootstrap "127.0.0.1:$LOCAL_BASE")
        "$flud" node --data "$dir/node-$i" --port $((LOCAL_BASE + i)) "${bootstrap[@]}" --log-level error \
            > "$dir/node-$i.log" 2>&1 &
        local_node_pids+=($!)
        for _ in $(seq 1 100); do grep -qs listening "$dir/node-$i.log" && break; sleep 0.1; done
        grep -qs listening "$dir/node-$i.log" || { echo "node $i did not start:" >&2; cat "$dir/node-$i.log" >&2; return 1; }
    done
}

local_node_pids=()

# clean_up_on_exit DIR: when the script exits, stops the local nodes and removes DIR.
clean_up_on_exit() {
    local_work_dir=$1
    trap 'stop_local_nodes; rm -rf "$local_work_dir"' EXIT
}

# stop_local_nodes: SIGKILLs every node start_local_nodes started, and reaps it.
stop_local_nodes() {
    local pid
    for pid in "${local_node_pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    for pid in "${local_node_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    local_node_pids=()
}
