package lifecycle

import "github.com/slack-go/slack"

func slackClient(apiURL string) *slack.Client {
	return slack.New(slackToken, slack.OptionAPIURL(apiURL))
}
