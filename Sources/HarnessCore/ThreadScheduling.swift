internal import CHarnessSupport

/// The calling thread's scheduling class, for background work that should only use CPU the
/// foreground leaves idle (the diff that follows a running replay).
public enum ThreadScheduling {
    /// Moves the calling thread to the idle class (Linux `SCHED_IDLE`): it runs when a core would
    /// otherwise be idle and yields at once to any normal thread. False where unsupported.
    @discardableResult
    public static func enterIdleClass() -> Bool { harness_set_thread_idle() == 0 }

    /// Moves the calling thread back to the normal class. Leaving the idle class needs
    /// `CAP_SYS_NICE` or a permissive `RLIMIT_NICE`: false when the kernel refuses (the thread
    /// then keeps running in the idle class, which only matters on a busy machine).
    @discardableResult
    public static func leaveIdleClass() -> Bool { harness_set_thread_normal() == 0 }
}
