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
        let holder = StateLock.holder(stateDir: bootstrap.settings.sync.stateDir)
        // The live record of the daemon that holds this state directory's lock (not another instance's, nor a
        // record left by a process whose pid was reused).
        let live = LiveRecord.read().flatMap { record in
            holder.map { Int32(record["pid"]?.int ?? 0) == $0.pid } ?? true ? record : nil
        }
        let daemonHolds = holder.map { $0.command.dropFirst().first == "run" } ?? false
        let now = WallClock.now().epochSeconds
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
                if live == nil, let holder {
                    members["daemon"] = .object([
                        "running": .bool(daemonHolds), "pid": .number(Double(holder.pid)), "live_record": .bool(false),
                    ])
                }
                if let damage = state.damage {
                    members["damaged"] = .object(["file": .string(damage.file), "problem": .string(damage.problem)])
                }
                if members["daemon"] == nil { members["daemon"] = live ?? .object(["running": .bool(false)]) }
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
        /// A time with how long ago it was, so that an old one reads as old.
        func when(_ value: String?) -> String {
            guard let value, let then = ISOTime.epochSeconds(value) else { return show(value) }
            return "\(value) (\(SyncDaemon.ago(max(0, now - then))) ago)"
        }
        print("output:               \(bootstrap.settings.proxy.output)")
        if let damage = state.damage {
            print(
                "state file:           DAMAGED: \(damage.file): \(damage.problem); the next cycle keeps a copy beside it (state.json.damaged-<time>), tests and reloads the file in place as after a crash, and starts a fresh record"
            )
        }
        if let live {
            let outcome = live["last_outcome"]?.string ?? "?"
            print(
                "daemon:               running (pid \(live["pid"]?.int ?? 0)): last cycle \(when(live["last_cycle_at"]?.string)) (\(outcome)), next check at \(live["next_check_at"]?.string ?? "?")"
            )
            let failing = !["unchanged", "applied", "?"].contains(outcome)
            print(
                "last success:         \(when(live["last_success_at"]?.string ?? state.lastSuccessAt))\(failing ? "; every cycle since has failed (last error below)" : "")"
            )
        } else if let holder {
            let what = daemonHolds ? "running" : "busy: `\(holder.command.dropFirst().joined(separator: " "))`"
            print(
                "daemon:               \(what) (pid \(holder.pid), holds \(bootstrap.settings.sync.stateDir)/lock); no live record (\(LiveRecord.defaultPath) is kept only under the systemd unit), so the figures below are from the last recorded change"
            )
            print("last success:         \(when(state.lastSuccessAt)) (as last recorded: cycles that change nothing are not written to state.json)")
        } else {
            print("daemon:               not running (nothing holds \(bootstrap.settings.sync.stateDir)/lock); figures below are from the last recorded change")
            print("last success:         \(when(state.lastSuccessAt))")
        }
        print("last recorded event:  \(when(state.lastCycleAt)) (\(state.lastOutcome ?? "none"))")
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
