package config

import (
	"fmt"
	"net/url"
)

func (c Config) publicURLErrs() []string {
	if c.PublicURL == "" {
		return nil
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return []string{fmt.Sprintf("public_url: %q must be http(s)://host[:port] (where clients reach this agent; console links start with it)", c.PublicURL)}
	}
	return nil
}
