using System.Buffers;
using System.Text.Json;

namespace Idem;

// The fast path's per-thread working memory, and the struct that lays out its output.
public sealed partial class RequestFingerprint
{
    // Enough for 16 levels of full objects, or many more small ones.
    private const int MaxKeptMembers = 1024;

    [ThreadStatic]
    private static Workspace? t_workspace;

    /// <summary>
    /// The fast path's working memory, one per thread rather than on the stack, where all of it would be cleared on
    /// every call.
    /// </summary>
    private sealed class Workspace
    {
        public readonly OpenObject[] Open = new OpenObject[MaxDepth + 1];
        public readonly byte[] Scratch = new byte[512];
        public Member[] Members = new Member[64];
    }

    private struct OpenObject
    {
        public int FirstMember;
        public int Members;
        public int LastNameStart;
        public int LastNameLength;
        public bool OutOfOrder;
    }

    private struct Member
    {
        public int NameStart;
        public int NameLength;
        public int Start;
        public int Length;
    }

    /// <summary>
    /// The canonical bytes as the writer lays them out without indentation: a comma before every item but the first of
    /// its container, a colon after a name. Every write checks for room and reports when there is none.
    /// </summary>
    private ref struct CanonicalOutput(Span<byte> destination)
    {
        private readonly Span<byte> _destination = destination;
        private bool _separate;

        public int Position { get; private set; }

        /// <summary>Where the next item starts, after its comma.</summary>
        public readonly int NextItem => _separate ? Position + 1 : Position;

        public readonly Span<byte> Written => _destination[..Position];

        public bool TryStart(byte bracket)
        {
            var at = NextItem;
            if (at >= _destination.Length)
            {
                return false;
            }

            Separate();
            _destination[at] = bracket;
            Position = at + 1;
            return true;
        }

        public bool TryEnd(byte bracket)
        {
            if (Position >= _destination.Length)
            {
                return false;
            }

            _destination[Position++] = bracket;
            _separate = true;
            return true;
        }

        // A name is quoted and followed by its colon; its value then takes no comma.
        public bool TryName(scoped ReadOnlySpan<byte> name) => TryQuoted(name, isName: true);

        public bool TryQuoted(scoped ReadOnlySpan<byte> text) => TryQuoted(text, isName: false);

        private bool TryQuoted(scoped ReadOnlySpan<byte> text, bool isName)
        {
            var at = NextItem;
            var end = at + text.Length + (isName ? 3 : 2);
            if (end > _destination.Length)
            {
                return false;
            }

            Separate();
            _destination[at] = (byte)'"';
            text.CopyTo(_destination[(at + 1)..]);
            _destination[at + 1 + text.Length] = (byte)'"';
            if (isName)
            {
                _destination[end - 1] = (byte)':';
            }

            Position = end;
            _separate = !isName;
            return true;
        }

        public bool TryValue(scoped ReadOnlySpan<byte> value)
        {
            var at = NextItem;
            if (at + value.Length > _destination.Length)
            {
                return false;
            }

            Separate();
            value.CopyTo(_destination[at..]);
            Position = at + value.Length;
            _separate = true;
            return true;
        }

        // The comma before an item, when there is room for the item (checked by the caller); the next item is not the
        // first of its container unless a container starts or a name is written.
        private void Separate()
        {
            if (_separate)
            {
                _destination[Position] = (byte)',';
                _separate = false;
            }
        }
    }

    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    // One writer per thread, reset onto each output, so that a fingerprint does not allocate a Utf8JsonWriter.
    private static Utf8JsonWriter RentWriter(IBufferWriter<byte> output)
    {
        var writer = t_writer;
        if (writer is null)
        {
            return new Utf8JsonWriter(output, CanonicalWriterOptions);
        }

        t_writer = null;
        writer.Reset(output);
        return writer;
    }

    private static void ReturnWriter(Utf8JsonWriter writer)
    {
        // Not holding on to the caller's output.
        writer.Reset(NoOutput.Instance);
        t_writer = writer;
    }

    private sealed class NoOutput : IBufferWriter<byte>
    {
        public static readonly NoOutput Instance = new();

        public void Advance(int count) => throw new InvalidOperationException();

        public Memory<byte> GetMemory(int sizeHint = 0) => throw new InvalidOperationException();

        public Span<byte> GetSpan(int sizeHint = 0) => throw new InvalidOperationException();
    }
}
