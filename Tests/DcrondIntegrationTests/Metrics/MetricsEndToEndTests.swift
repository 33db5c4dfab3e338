import DcrondTestSupport
import Testing

@testable import DcrondCore

#if canImport(Glibc)
import Glibc
#endif

@Suite("/metrics, /healthz, /readyz of a real node", .enabled(if: RedisTestServer.enabled))
struct MetricsEndToEndTests {
    @Test(
        "scraped over HTTP: per-job counters match what ran, a job that never ran is at 0, the node's state and health follow a drain"
    )
    func scrape() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let cluster = try DcrondCluster(server: server, jobs: [])
        let port = try freeLoopbackPort()
        try cluster.writeJobs(raw: [
            #"{"name": "ok", "schedule": "* * * * * *", "command": "echo ok >> \#(cluster.directory)/ok.txt"}"#,
            #"{"name": "bad", "schedule": "* * * * * *", "command": "echo bad >> \#(cluster.directory)/bad.txt; exit 3"}"#,
            #"{"name": "never", "schedule": "0 0 1 1 *", "command": "true"}"#,
        ])
        try cluster.start("a", settings: #", "metrics": "127.0.0.1:\#(port)""#)
        func lines(_ name: String) -> Double {
            Double(
                (try? FileSystem.readFile(cluster.directory + "/\(name).txt")).map { $0.filter { $0 == 10 }.count } ?? 0
            )
        }
        var ready = false
        _ = try await waitFor(seconds: 10) { lines("ok") >= 3 }
        for _ in 0..<50 where !ready {
            ready = (try? await httpGet(port: port, path: "/readyz"))?.status == 200
            if !ready { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(ready, "readyz never answered 200")
        let before = (ok: lines("ok"), bad: lines("bad"))
        let scrape = try await httpGet(port: port, path: "/metrics")
        let after = (ok: lines("ok"), bad: lines("bad"))
        #expect(scrape.status == 200)
        let samples = parsePrometheusText(scrape.body)
        let ok = try #require(
            samples[#"dcrond_runs_total{job="ok",result="succeeded"}"#],
            "\(scrape.body.prefix(2000))"
        )
        // A run is counted when it ends, after its line is written.
        #expect(ok >= before.ok - 1 && ok <= after.ok, "ok: \(ok) runs counted, \(before.ok)…\(after.ok) ran")
        let bad = try #require(samples[#"dcrond_runs_total{job="bad",result="failed"}"#])
        #expect(bad >= before.bad - 1 && bad <= after.bad && bad > 0)
        #expect(samples[#"dcrond_runs_total{job="bad",result="succeeded"}"#] == 0)
        for result in DaemonMetrics.results {
            #expect(
                samples["dcrond_runs_total{job=\"never\",result=\"\(result)\"}"] == 0,
                "a job that never ran is at 0: \(result)"
            )
        }
        #expect(samples[#"dcrond_missed_total{job="never"}"#] == 0)
        #expect(samples[#"dcrond_last_success_timestamp_seconds{job="never"}"#] == 0)
        #expect(samples[#"dcrond_next_run_timestamp_seconds{job="never"}"#] == 1_798_761_600, "2027-01-01T00:00:00Z")
        let lastSuccess = try #require(samples[#"dcrond_last_success_timestamp_seconds{job="ok"}"#])
        #expect(abs(lastSuccess - Double(wallSeconds())) < 3)
        #expect((samples[#"dcrond_start_lateness_seconds_count{job="ok"}"#] ?? 0) >= 1)
        #expect(
            samples[#"dcrond_node_state{state="active"}"#] == 1 && samples[#"dcrond_node_state{state="fenced"}"#] == 0
        )
        #expect(samples["dcrond_owned_jobs"] == 3 && samples[#"dcrond_pool_nodes{state="active"}"#] == 1)
        #expect(
            scrape.body.contains("# HELP dcrond_runs_total") && scrape.body.contains("# TYPE dcrond_runs_total counter")
        )
        #expect(try await httpGet(port: port, path: "/healthz").status == 200)
        #expect(try await httpGet(port: port, path: "/nothing").status == 404)

        _ = try await runProcess([
            buildProductsDirectory() + "/dcrond", "drain", "--config", cluster.directory + "/a.json",
        ])
        try await Task.sleep(for: .seconds(2))
        let drained = try await httpGet(port: port, path: "/readyz")
        #expect(drained.status == 503 && drained.body.contains("draining"), "\(drained)")
        let state = parsePrometheusText(try await httpGet(port: port, path: "/metrics").body)
        #expect(state[#"dcrond_node_state{state="draining"}"#] == 1 && state["dcrond_owned_jobs"] == 0)
        #expect(try await httpGet(port: port, path: "/healthz").status == 200, "alive while draining")
        await cluster.cleanUp()
    }

    @Test("a metrics address that is taken stops the start with an error naming it")
    func portInUse() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let cluster = try DcrondCluster(server: server, jobs: ["j"])
        let port = try freeLoopbackPort()
        try cluster.start("a", settings: #", "metrics": "127.0.0.1:\#(port)""#)
        _ = try await waitFor(seconds: 10) { cluster.log("a").contains("serving /metrics") }
        try cluster.start("b", settings: #", "metrics": "127.0.0.1:\#(port)""#)
        #expect(try await cluster.wait("b", limit: .seconds(20)) == 1)
        #expect(cluster.log("b").contains("metrics: cannot listen on 127.0.0.1:\(port)"), "\(cluster.log("b"))")
        await cluster.cleanUp()
    }
}
