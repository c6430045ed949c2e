import ArgumentParser
import HarnessCore

/// Writes a one-line message to stderr.
func printError(_ message: String) {
    var line = "harness: " + message
    if !line.hasSuffix("\n") { line += "\n" }
    Console.error(line)
}

/// Runs `body`, turning any error into the CONTRACT's exit codes: a `HarnessError` (or any
/// unexpected error) prints one line and exits 2; `ExitCode` and argument-parser errors pass.
func withExitCodes<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as ExitCode {
        throw error
    } catch let error as HarnessError {
        printError(error.description)
        throw ExitCode(2)
    } catch let error as ValidationError {
        throw error
    } catch let error as CleanExit {
        throw error
    } catch {
        printError("\(error)")
        throw ExitCode(2)
    }
}
