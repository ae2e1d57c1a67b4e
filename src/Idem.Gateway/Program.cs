using Idem.Gateway.Hosting;

await GatewayApp.Build(args).RunAsync().ConfigureAwait(false);
