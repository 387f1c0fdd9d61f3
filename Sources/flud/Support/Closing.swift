/// Runs `body` with `resource`, then closes it whether `body` returned or
/// threw: the async counterpart of `defer`, which cannot await.
func using<Resource, Result>(_ resource: Resource, close: (Resource) async -> Void,
                             _ body: (Resource) async throws -> Result) async throws -> Result {
    do {
        let result = try await body(resource)
        await close(resource)
        return result
    } catch {
        await close(resource)
        throw error
    }
}
