import ProxySyncCore
import Testing

@testable import ProxySyncSystem

/// How a probe's answer is judged after a reload.
struct ConfirmationJudgeTests {
    let proxying = Listener(scheme: .https, port: 8443, serverName: "gocd.test", action: .proxy)
    let redirect = Listener(scheme: .http, port: 8080, serverName: "gocd.test", action: .redirect(to: "https://gocd.test:8443"))

    func answer(_ status: Int, _ body: String = "", location: String? = nil) -> Result<ListenerProbe.Answer, ProbeFailure> {
        .success(ListenerProbe.Answer(status: status, location: location, body: body))
    }

    @Test func onlyTheNewGenerationConfirmsAProxyingListener() {
        #expect(LiveServingCheck.judge(answer(200, "gocd-proxy-sync-generation=00000000000000aa\n"), listener: proxying, generation: "00000000000000aa") == nil)
        let old = LiveServingCheck.judge(answer(200, "gocd-proxy-sync-generation=00000000000000bb\n"), listener: proxying, generation: "00000000000000aa")
        #expect(old?.contains("previous generation") == true)
        #expect(LiveServingCheck.judge(answer(200, "hello"), listener: proxying, generation: "00000000000000aa") != nil, "a plain 200 proves nothing")
    }

    @Test func aRedirectListenerIsConfirmedByItsTarget() {
        let right = answer(301, location: "https://gocd.test:8443/.well-known/gocd-proxy-sync/generation")
        #expect(LiveServingCheck.judge(right, listener: redirect, generation: "00000000000000aa") == nil)
        let wrong = answer(301, location: "https://old.test/.well-known/gocd-proxy-sync/generation")
        #expect(LiveServingCheck.judge(wrong, listener: redirect, generation: "00000000000000aa")?.contains("previous configuration") == true)
    }

    @Test func aDroppedListenerMustStopAnsweringFromTheSupersededFile() {
        let old = answer(200, "gocd-proxy-sync-generation=00000000000000bb\n")
        #expect(LiveServingCheck.stillServing(old, superseded: "00000000000000bb")?.contains("did not take") == true)
        #expect(LiveServingCheck.stillServing(answer(404), superseded: "00000000000000bb") == nil)
        #expect(LiveServingCheck.stillServing(.failure(ProbeFailure("connection refused")), superseded: "00000000000000bb") == nil)
    }

    @Test func theGenerationCountsOnlyWithTheStatusTheFileAnswersItWith() {
        let body = "gocd-proxy-sync-generation=00000000000000aa\n"
        #expect(LiveServingCheck.judge(answer(404, body), listener: proxying, generation: "00000000000000aa", markerStatus: 404) == nil)
        // A file some DocumentRoot serves at the marker's path answers 200 with whatever it holds.
        let fromAFile = LiveServingCheck.judge(answer(200, body), listener: proxying, generation: "00000000000000aa", markerStatus: 404)
        #expect(fromAFile?.contains("not the proxy's own answer") == true)
    }
}
