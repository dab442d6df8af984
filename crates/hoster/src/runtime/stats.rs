//! What a container uses, from the engine's stats, computed as `docker stats` does on cgroup
//! v1 and v2.

use bollard::models::ContainerStatsResponse;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use serde::Serialize;
use utoipa::ToSchema;

use super::engine::{Engine, EngineError};

#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Usage {
    /// Share of one CPU over the last sample interval (200 = two CPUs busy).
    pub cpu_percent: f64,
    /// Memory in use, page cache that can be reclaimed left out.
    pub memory_bytes: u64,
    /// The container's memory limit, or the host's memory when it has none.
    pub memory_limit_bytes: u64,
    pub memory_percent: f64,
    pub network_rx_bytes: u64,
    pub network_tx_bytes: u64,
    pub block_read_bytes: u64,
    pub block_write_bytes: u64,
    pub pids: u64,
}

/// The figures of one stats sample, which carries the previous CPU reading with it.
pub fn usage(stats: &ContainerStatsResponse) -> Usage {
    let cpu = stats.cpu_stats.as_ref();
    let before = stats.precpu_stats.as_ref();
    let total = |c: Option<&bollard::models::ContainerCpuStats>| {
        c.and_then(|c| c.cpu_usage.as_ref())
            .and_then(|u| u.total_usage)
            .unwrap_or(0)
    };
    let system = |c: Option<&bollard::models::ContainerCpuStats>| c.and_then(|c| c.system_cpu_usage).unwrap_or(0);
    let cpu_delta = total(cpu).saturating_sub(total(before)) as f64;
    let system_delta = system(cpu).saturating_sub(system(before)) as f64;
    let online = match cpu.and_then(|c| c.online_cpus).unwrap_or(0) {
        0 => cpu
            .and_then(|c| c.cpu_usage.as_ref())
            .and_then(|u| u.percpu_usage.as_ref())
            .map_or(1, Vec::len) as f64,
        n => f64::from(n),
    };
    let cpu_percent = if cpu_delta > 0.0 && system_delta > 0.0 {
        cpu_delta / system_delta * online * 100.0
    } else {
        0.0
    };

    let memory = stats.memory_stats.as_ref();
    let used = memory.and_then(|m| m.usage).unwrap_or(0);
    let stat = |name: &str| memory.and_then(|m| m.stats.as_ref()).and_then(|s| s.get(name)).copied();
    // cgroup v1 reports `total_inactive_file`, v2 `inactive_file`.
    let inactive = match stat("total_inactive_file") {
        Some(v1) if v1 < used => v1,
        _ => stat("inactive_file").filter(|v2| *v2 < used).unwrap_or(0),
    };
    let memory_bytes = used - inactive;
    let memory_limit_bytes = memory.and_then(|m| m.limit).unwrap_or(0);
    let memory_percent = if memory_limit_bytes > 0 {
        memory_bytes as f64 / memory_limit_bytes as f64 * 100.0
    } else {
        0.0
    };

    let networks = stats.networks.iter().flat_map(|n| n.values());
    let (network_rx_bytes, network_tx_bytes) = networks.fold((0, 0), |(rx, tx), n| {
        (rx + n.rx_bytes.unwrap_or(0), tx + n.tx_bytes.unwrap_or(0))
    });
    let block = stats
        .blkio_stats
        .as_ref()
        .and_then(|b| b.io_service_bytes_recursive.as_ref())
        .into_iter()
        .flatten();
    let (block_read_bytes, block_write_bytes) = block.fold((0, 0), |(read, write), entry| {
        let value = entry.value.unwrap_or(0);
        match entry.op.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("read") => (read + value, write),
            Some("write") => (read, write + value),
            _ => (read, write),
        }
    });
    Usage {
        cpu_percent,
        memory_bytes,
        memory_limit_bytes,
        memory_percent,
        network_rx_bytes,
        network_tx_bytes,
        block_read_bytes,
        block_write_bytes,
        pids: stats.pids_stats.as_ref().and_then(|p| p.current).unwrap_or(0),
    }
}

impl Engine {
    pub(super) async fn stats(
        &self,
        name: &str,
        stream: bool,
    ) -> Result<BoxStream<'static, Result<Usage, EngineError>>, EngineError> {
        let docker = self.client().await?;
        // Not `one_shot`: the engine then waits for a second reading, so the CPU share is real.
        let options = bollard::query_parameters::StatsOptionsBuilder::new()
            .stream(stream)
            .one_shot(false)
            .build();
        Ok(docker
            .stats(name, Some(options))
            .map(|sample| sample.map(|s| usage(&s)).map_err(EngineError::from_docker))
            .boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(json: serde_json::Value) -> ContainerStatsResponse {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn cgroup_v2_figures_as_docker_stats_shows_them() {
        let u = usage(&sample(serde_json::json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 3_000_000_000u64}, "system_cpu_usage": 20_000_000_000u64, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 2_000_000_000u64}, "system_cpu_usage": 18_000_000_000u64},
            "memory_stats": {"usage": 50_000_000u64, "limit": 200_000_000u64, "stats": {"inactive_file": 10_000_000u64}},
            "networks": {"eth0": {"rx_bytes": 100, "tx_bytes": 40}, "eth1": {"rx_bytes": 1, "tx_bytes": 2}},
            "blkio_stats": {"io_service_bytes_recursive": [
                {"major": 8, "minor": 0, "op": "read", "value": 4096},
                {"major": 8, "minor": 0, "op": "write", "value": 8192}
            ]},
            "pids_stats": {"current": 7}
        })));
        assert_eq!(u.cpu_percent, 100.0, "1 s of CPU in 2 s of two CPUs' time is one CPU");
        assert_eq!(
            (u.memory_bytes, u.memory_limit_bytes, u.memory_percent),
            (40_000_000, 200_000_000, 20.0)
        );
        assert_eq!((u.network_rx_bytes, u.network_tx_bytes), (101, 42));
        assert_eq!((u.block_read_bytes, u.block_write_bytes, u.pids), (4096, 8192, 7));
    }

    #[test]
    fn cgroup_v1_leaves_out_its_inactive_cache_and_counts_cpus_per_core() {
        let u = usage(&sample(serde_json::json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 1_500, "percpu_usage": [1, 2, 3, 4]}, "system_cpu_usage": 10_000},
            "precpu_stats": {"cpu_usage": {"total_usage": 1_000}, "system_cpu_usage": 8_000},
            "memory_stats": {"usage": 1_000, "limit": 4_000, "stats": {"total_inactive_file": 200, "inactive_file": 900}},
            "blkio_stats": {"io_service_bytes_recursive": [{"op": "Read", "value": 1}, {"op": "Write", "value": 2}, {"op": "Total", "value": 3}]}
        })));
        assert_eq!(u.cpu_percent, 100.0, "500 of 2,000 on four CPUs");
        assert_eq!(u.memory_bytes, 800);
        assert_eq!((u.block_read_bytes, u.block_write_bytes), (1, 2));
    }

    #[test]
    fn a_first_or_idle_sample_is_zero_percent_not_nan() {
        let u = usage(&sample(serde_json::json!({"memory_stats": {}})));
        assert_eq!((u.cpu_percent, u.memory_percent, u.memory_bytes), (0.0, 0.0, 0));
    }
}
