#if canImport(Glibc)
import Glibc
#endif

/// A pthread mutex with one condition variable, both at stable addresses (never Swift-managed
/// storage), for the producer/consumer queues between threads (the proxy's recording queue, live
/// capture's intake). Call `wait`, `signal` and `broadcast` inside `locked`.
public final class ConditionLock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Runs `body` holding the mutex.
    public func locked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Takes the mutex, for a caller that must move values into guarded state (a closure would
    /// copy them); pair with `unlock()`.
    public func lock() { pthread_mutex_lock(mutex) }
    /// Releases the mutex taken with `lock()`.
    public func unlock() { pthread_mutex_unlock(mutex) }

    /// Waits for a signal (holding the mutex): at most `seconds` when given.
    public func wait(seconds: Double? = nil) {
        guard let seconds else {
            pthread_cond_wait(condition, mutex)
            return
        }
        var deadline = timespec()
        clock_gettime(CLOCK_REALTIME, &deadline)
        let nanos = Int(deadline.tv_nsec) + Int(seconds * 1e9)
        deadline.tv_sec += nanos / 1_000_000_000
        deadline.tv_nsec = nanos % 1_000_000_000
        pthread_cond_timedwait(condition, mutex, &deadline)
    }

    public func signal() { pthread_cond_signal(condition) }
    public func broadcast() { pthread_cond_broadcast(condition) }
}
