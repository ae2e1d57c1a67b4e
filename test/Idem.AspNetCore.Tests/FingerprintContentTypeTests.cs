using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Idem.AspNetCore.Tests;

/// <summary>
/// The fingerprint names the request's media type. The common JSON content types skip the parse, so each must give
/// exactly what the parse gives, or a retry sent with another spelling would get a 422 across an upgrade.
/// </summary>
public sealed class FingerprintContentTypeTests
{
    public static TheoryData<string> PlainJsonContentTypes => [.. HttpRequestFingerprint.PlainJsonContentTypes];

    [Theory]
    [MemberData(nameof(PlainJsonContentTypes))]
    public void PlainJsonContentType_ParsesToApplicationJson(string contentType)
    {
        Assert.True(MediaTypeHeaderValue.TryParse(contentType, out var parsed));
        Assert.Equal("application/json", parsed.MediaType.Value?.ToLowerInvariant());
    }

    [Theory]
    [MemberData(nameof(PlainJsonContentTypes))]
    public void ComputeFingerprint_PlainJsonContentType_SameAsAParsedOne(string contentType)
    {
        // "APPLICATION/JSON; charset=utf-8 " is not in the list, so it is parsed; the media type, and the fingerprint, agree.
        Assert.Equal(Fingerprint("APPLICATION/JSON; charset=utf-8 "), Fingerprint(contentType));
    }

    [Fact]
    public void ComputeFingerprint_OtherContentTypes_StillParsed()
    {
        Assert.NotEqual(Fingerprint("application/json"), Fingerprint("text/plain; charset=utf-8"));
        Assert.NotEqual(Fingerprint("application/json"), Fingerprint("application/json; charset=\"unterminated"));
    }

    private static string Fingerprint(string contentType)
    {
        var context = new DefaultHttpContext();
        context.Request.ContentType = contentType;
        return HttpRequestFingerprint.Compute(context, "POST", "/v1/transfers", """{"b":1,"a":2}"""u8, null);
    }
}
