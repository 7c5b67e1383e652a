"""WeChat official account channel (wechatpy): push endpoint, crypto, passive and customer-service replies."""
