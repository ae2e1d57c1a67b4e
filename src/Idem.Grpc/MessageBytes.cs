using System.Buffers;
using Grpc.Core;

namespace Idem.Grpc;

/// <summary>
/// A message's bytes as its marshaller writes them, and a message from stored bytes, through the marshaller's contextual
/// delegates (the simple ones of a protobuf marshaller are emulations that cannot write to a buffer).
/// </summary>
internal static class MessageBytes
{
    public static byte[] Serialize<T>(Marshaller<T> marshaller, T message)
    {
        var context = new Writer();
        marshaller.ContextualSerializer(message, context);
        return context.Payload ?? throw new InvalidOperationException($"The marshaller of {typeof(T).Name} completed no payload.");
    }

    public static T Deserialize<T>(Marshaller<T> marshaller, ReadOnlyMemory<byte> payload)
        => marshaller.ContextualDeserializer(new Reader(payload));

    private sealed class Writer : SerializationContext
    {
        private ArrayBufferWriter<byte>? _buffer;

        public byte[]? Payload { get; private set; }

        public override void Complete(byte[] payload) => Payload = payload;

        public override IBufferWriter<byte> GetBufferWriter() => _buffer ??= new ArrayBufferWriter<byte>();

        public override void SetPayloadLength(int payloadLength) => _buffer ??= new ArrayBufferWriter<byte>(Math.Max(payloadLength, 1));

        public override void Complete() => Payload = _buffer is null ? [] : _buffer.WrittenSpan.ToArray();
    }

    private sealed class Reader(ReadOnlyMemory<byte> payload) : DeserializationContext
    {
        public override int PayloadLength => payload.Length;

        public override byte[] PayloadAsNewBuffer() => payload.ToArray();

        public override ReadOnlySequence<byte> PayloadAsReadOnlySequence() => new(payload);
    }
}
