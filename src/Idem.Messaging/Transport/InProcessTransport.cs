namespace Idem.Messaging.Transport;

/// <summary>
/// The in-process transport: the outbox relay's publish hands the message straight to this process's consumers, each
/// in its own inbox transaction, and completes only once every matching consumer committed it (or had handled it
/// before). A consumer that fails makes the publish fail, so the message stays in the outbox and the relay tries again
/// with backoff; consumers that already handled it skip the copy. No broker, no set-up, but a node only ever consumes
/// the events its own outbox holds: for several nodes, use a broker (<c>UseRabbitMq</c>).
/// </summary>
internal sealed class InProcessPublisher(IMessageDispatcher dispatcher) : IMessagePublisher
{
    public async ValueTask PublishAsync(Message message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        foreach (var consumer in dispatcher.Consumers)
        {
            if (!consumer.MessageTypes.Any(pattern => TopicPattern.Matches(pattern, message.Type)))
            {
                continue;
            }

            var result = await dispatcher.DispatchAsync(consumer.Name, message, cancellationToken).ConfigureAwait(false);
            if (result.Outcome == DeliveryOutcome.Retry)
            {
                // Not acknowledged: the relay keeps the message (and its aggregate's followers) and publishes it again.
                throw new InvalidOperationException($"Consumer '{consumer.Name}' failed on message {message.Id}: {result.Reason}");
            }

            // Handled, Duplicate: done. DeadLetter: the inbox row keeps the message's reason for good; there is no
            // dead-letter queue to copy it to, and holding back the outbox for it would block its aggregate forever.
        }
    }
}

/// <summary>RabbitMQ topic matching: words separated by dots; <c>*</c> matches one word, <c>#</c> zero or more.</summary>
internal static class TopicPattern
{
    public static bool Matches(string pattern, string type) => Matches(pattern.Split('.'), 0, type.Split('.'), 0);

    private static bool Matches(string[] pattern, int p, string[] words, int w)
    {
        if (p == pattern.Length)
        {
            return w == words.Length;
        }

        if (pattern[p] == "#")
        {
            for (var skip = w; skip <= words.Length; skip++)
            {
                if (Matches(pattern, p + 1, words, skip))
                {
                    return true;
                }
            }

            return false;
        }

        return w < words.Length
            && (pattern[p] == "*" || string.Equals(pattern[p], words[w], StringComparison.Ordinal))
            && Matches(pattern, p + 1, words, w + 1);
    }
}
