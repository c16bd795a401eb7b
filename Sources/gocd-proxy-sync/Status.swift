import ArgumentParser
import ProxySyncCore
import ProxySyncSystem

/// Prints the last recorded outcome from the state directory.
struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the last recorded outcome (--json for machines).")

    @OptionGroup var options: CommonOptions

    @Flag(name: .long, help: "Print the state as JSON.")
    var json = false

    func run() async throws {
        let logger = options.bootstrapLogging()
        let bootstrap = try options.load(logger)
        let store = JSONStateStore(stateDir: bootstrap.settings.sync.stateDir)
        let live = LiveRecord.read()
        guard let state = store.loadIfPresent() else {
            if json {
                print(JSON.object(["recorded": .bool(false), "state_file": .string(store.path)]).serialized())
            } else {
                print("no cycle recorded yet (\(store.path) does not exist): run gocd-proxy-sync once, or start the service")
            }
            return
        }
        if json {
            var object = state.json
            if case .object(var members) = object {
                if let damage = state.damage {
                    members["damaged"] = .object(["file": .string(damage.file), "problem": .string(damage.problem)])
                }
                members["daemon"] = live ?? .object(["running": .bool(false)])
                if let live, case .object(var record) = live {
                    record["running"] = .bool(true)
                    members["daemon"] = .object(record)
                    if let success = live["last_success_at"] { members["last_success_at"] = success }
                }
                object = .object(members)
            }
            print(object.serialized())
            return
        }
        func show(_ value: String?) -> String { value.map { $0.isEmpty ? "\"\"" : $0 } ?? "never" }
        print("output:               \(bootstrap.settings.proxy.output)")
        if let damage = state.damage {
            print(
                "state file:           DAMAGED: \(damage.file): \(damage.problem); the next cycle keeps a copy beside it (state.json.damaged-<time>), tests and reloads the file in place as after a crash, and starts a fresh record"
            )
        }
        if let live {
            print(
                "daemon:               running (pid \(live["pid"]?.int ?? 0)): last cycle \(live["last_cycle_at"]?.string ?? "?") (\(live["last_outcome"]?.string ?? "?")), next check at \(live["next_check_at"]?.string ?? "?")"
            )
            print("last success:         \(show(live["last_success_at"]?.string ?? state.lastSuccessAt))")
        } else {
            print("daemon:               not running (no live record in \(LiveRecord.defaultPath)); figures below are from the last recorded change")
            print("last success:         \(show(state.lastSuccessAt))")
        }
        print("last recorded event:  \(show(state.lastCycleAt)) (\(state.lastOutcome ?? "none"))")
        print("last change applied:  \(show(state.lastChangeAt))")
        print("site_url:             \(show(state.lastAppliedSiteURL))")
        print("secure_site_url:      \(show(state.lastAppliedSecureSiteURL))")
        print("last reload:          \(show(state.lastReloadAt))")
        let serving =
            switch state.serving {
            case true?: "yes (the proxy answered from the managed file)"
            case false?: "NO (the proxy did not serve the last file it was given: see the log for not_serving)"
            case nil: "unknown (not confirmed: confirm_timeout_seconds = 0, or nothing applied yet)"
            }
        print("serving:              \(serving)")
        print("last confirmed:       \(show(state.lastConfirmedAt))")
        print("consecutive failures: \(state.consecutiveFailures)")
        if state.reloadOwed { print("reload owed:          yes (the last reload failed; it is retried every cycle)") }
        if state.applyInProgress != nil { print("apply in progress:    yes (interrupted; finished at the next start)") }
        if let error = state.lastError, state.consecutiveFailures > 0 { print("last error:           \(error)") }
    }
}
