import Glibc

/// A value behind a pthread mutex, for state that threads really contend for (the loop thread and whoever
/// rings it).
///
/// - Important: not `Synchronization.Mutex`: its lock lives in the standard library, which is built without
///   ThreadSanitizer's instrumentation, so `make tsan` cannot see it order two accesses and reports a race
///   whenever two threads meet in it. A pthread mutex is intercepted by the sanitizer.
public final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    public init(_ value: Value) {
        self.value = value
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    public func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
